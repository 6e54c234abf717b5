/*
 * A PKCS#11 v2.40 module that forwards every call to a real one (REAL_MODULE, fixed at compile time)
 * and adds the lockout of AWS CloudHSM: after 5 consecutive failed user logins on a token, the user
 * is locked and every further user login fails with CKR_PIN_LOCKED. SoftHSM2 never locks a PIN, so
 * without this the tests could not reach that state against a real token.
 *
 * Build: gcc -shared -fPIC -O2 -I/usr/include/softhsm -DREAL_MODULE=\"/usr/lib/softhsm/libsofthsm2.so\"
 *        -Wl,-z,nodelete -o lockout-shim.so lockout-shim.c
 * (-z nodelete: the counts must outlive a dlclose by the application, as a lock outlives a client.)
 */
#include "forwarding.h"

/* AWS CloudHSM locks a crypto user after 5 failed logins. */
#define MAX_FAILED_LOGINS 5
/* Slots whose logins are counted; a test process sees a handful of tokens. */
#define MAX_SLOTS 64

/* Per slot, the consecutive CKR_PIN_INCORRECT of user logins; guarded by mutex. */
static struct {
  CK_SLOT_ID slot;
  unsigned failures;
} counts[MAX_SLOTS];
static size_t slots_counted;

/* The failure count of slot, added at zero if new; NULL if the table is full. Call under mutex. */
static unsigned *failures_of(CK_SLOT_ID slot) {
  for (size_t i = 0; i < slots_counted; i++) {
    if (counts[i].slot == slot) {
      return &counts[i].failures;
    }
  }
  if (slots_counted == MAX_SLOTS) {
    return NULL;
  }
  counts[slots_counted].slot = slot;
  counts[slots_counted].failures = 0;
  return &counts[slots_counted++].failures;
}

static CK_RV shim_login(CK_SESSION_HANDLE session, CK_USER_TYPE user_type, CK_UTF8CHAR_PTR pin,
                        CK_ULONG pin_len) {
  if (user_type != CKU_USER) {
    return real->C_Login(session, user_type, pin, pin_len);
  }
  CK_SESSION_INFO info;
  CK_RV rv = real->C_GetSessionInfo(session, &info);
  if (rv != CKR_OK) {
    return rv;
  }
  /* Held across the real C_Login so that concurrent logins cannot make more than 5 real attempts. */
  pthread_mutex_lock(&mutex);
  unsigned *failures = failures_of(info.slotID);
  if (failures == NULL) {
    rv = CKR_HOST_MEMORY;
  } else if (*failures >= MAX_FAILED_LOGINS) {
    rv = CKR_PIN_LOCKED;
  } else {
    rv = real->C_Login(session, user_type, pin, pin_len);
    if (rv == CKR_PIN_INCORRECT) {
      (*failures)++;
    } else if (rv == CKR_OK) {
      *failures = 0;
    }
  }
  pthread_mutex_unlock(&mutex);
  return rv;
}

static void replace_entries(void) {
  shim.C_Login = shim_login;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  return forward(list, "lockout-shim");
}
