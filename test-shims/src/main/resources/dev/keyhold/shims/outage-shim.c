/*
 * A PKCS#11 v2.40 module that forwards every call to a real one (REAL_MODULE, fixed at compile time)
 * and makes chosen tokens unreachable, for failover drills: a token is down while a file named after
 * its label exists in OUTAGE_DIR, and hangs while that name with ".hang" appended exists there.
 * SoftHSM2's tokens never go away on their own, and stopping the whole library would take every token
 * down at once, so without this nothing could show what a client does when one HSM of a cluster stops
 * answering while the others carry on.
 *
 * The file of a token is its label without the blank padding, each '/' replaced by '_' (a file name
 * holds no '/'): label "cluster-abc/hsm2" -> OUTAGE_DIR/cluster-abc_hsm2 (down) and
 * OUTAGE_DIR/cluster-abc_hsm2.hang (hanging). So a token labelled "x.hang" would be down whenever
 * token "x" hangs; HsmOutages refuses such labels.
 *
 * While a token is down, the calls that reach it through its slot (C_GetTokenInfo, C_OpenSession,
 * C_GetMechanism*, C_InitToken) and every call on a session of its slot return CKR_DEVICE_REMOVED
 * without reaching the real module; C_GetSlotList and C_GetSlotInfo still show the slot, as a
 * client library still knows an HSM it cannot reach. C_CloseSession and C_CloseAllSessions still
 * close the real sessions: a client that drops its sessions on the error must leak nothing. When the
 * file is removed the token answers again; sessions opened before the outage may still work then, as
 * after a network outage that did not restart the HSM.
 *
 * While a token hangs, it is a network HSM that stops answering without refusing: C_OpenSession and
 * C_InitToken on its slot and every call on a session of its slot block, before the real module is
 * reached, so no lock of SoftHSM2's is held meanwhile and its other tokens answer as before. They
 * sleep in steps of HANG_POLL, looking at the file again after each; once it is gone they go on to
 * the real call, or return CKR_DEVICE_REMOVED if the token is down by then (with both files, a call
 * hangs first and fails after). Nothing interrupts the wait, as nothing interrupts a real library
 * waiting on a silent device. What never blocks: C_GetTokenInfo, C_GetSlotList, C_GetSlotInfo and
 * C_GetMechanism*, because a client library answers them from what it learnt of the HSM when it could
 * reach it, and because a client finds a token by reading every slot's token info: blocking one slot's
 * would stall the lookup of every token, the ones that answer too, which no real outage of one HSM
 * does. Nor C_CloseSession and C_CloseAllSessions, because closing must never hang: a client that
 * gives up on a silent HSM has to be able to let go of its sessions.
 *
 * While a file of that name with ".refuse-keygen" appended exists, C_GenerateKey on a session of the
 * token's slot answers CKR_TEMPLATE_INCONSISTENT without reaching the real module: an HSM that refuses
 * to make a key, in time and making nothing, while it serves every other call.
 *
 * Cost on the normal path: every call on a session makes one C_GetSessionInfo and two access(2), one
 * per file, where it made one access(2) before (C_OpenSession: the two access(2)); neither file exists
 * then, and each missing name takes a lookup of its own. Watching the directory's mtime instead would
 * save them, but a file created within the timestamp's granularity after a look would go unseen.
 * The slot calls that never block make one access(2), as before.
 *
 * Build: gcc -shared -fPIC -O2 -I/usr/include/softhsm -DREAL_MODULE=\"/usr/lib/softhsm/libsofthsm2.so\"
 *        -DOUTAGE_DIR=\"/abs/dir\" -Wl,-z,nodelete -o outage-shim.so outage-shim.c
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forwarding.h"

#ifndef OUTAGE_DIR
#error "define OUTAGE_DIR as the quoted absolute path of the directory of outage files"
#endif

/* Slots whose labels are cached; a process sees a handful of tokens. Past it, labels are read afresh. */
#define MAX_SLOTS 64
/* CK_TOKEN_INFO's label: blank-padded, not NUL-terminated. */
#define LABEL_LEN sizeof(((CK_TOKEN_INFO *) 0)->label)

/* Per slot, the outage file name of its initialised token; guarded by mutex. A label only changes
 * through C_InitToken, which drops the entry. */
static struct {
  CK_SLOT_ID slot;
  char file[LABEL_LEN + 1];
} files[MAX_SLOTS];
static size_t slots_cached;

/* Writes the outage file name of slot's token to file; false if it has none (not initialised). */
static CK_BBOOL file_of(CK_SLOT_ID slot, char file[LABEL_LEN + 1]) {
  CK_BBOOL found = CK_FALSE;
  pthread_mutex_lock(&mutex);
  for (size_t i = 0; i < slots_cached && !found; i++) {
    if (files[i].slot == slot) {
      memcpy(file, files[i].file, LABEL_LEN + 1);
      found = CK_TRUE;
    }
  }
  pthread_mutex_unlock(&mutex);
  if (found) {
    return CK_TRUE;
  }
  /* Read outside the mutex: a slow token must not hold up the checks of the others. */
  CK_TOKEN_INFO info;
  if (real->C_GetTokenInfo(slot, &info) != CKR_OK || !(info.flags & CKF_TOKEN_INITIALIZED)) {
    return CK_FALSE;  /* the real call on it will say what is wrong */
  }
  size_t len = LABEL_LEN;
  while (len > 0 && info.label[len - 1] == ' ') {
    len--;
  }
  for (size_t i = 0; i < len; i++) {
    file[i] = info.label[i] == '/' ? '_' : (char) info.label[i];
  }
  file[len] = '\0';
  pthread_mutex_lock(&mutex);
  if (slots_cached < MAX_SLOTS) {
    files[slots_cached].slot = slot;
    memcpy(files[slots_cached++].file, file, LABEL_LEN + 1);
  }
  pthread_mutex_unlock(&mutex);
  return CK_TRUE;
}

/* Appended to a token's file name, it names the file that makes the token hang. */
#define HANG_SUFFIX ".hang"
/* Appended to a token's file name, it names the file that makes the token refuse C_GenerateKey. */
#define REFUSE_KEYGEN_SUFFIX ".refuse-keygen"
/* OUTAGE_DIR "/" <file> REFUSE_KEYGEN_SUFFIX (the longer suffix) and the NUL: the longest marker path. */
#define MARKER_SIZE (sizeof(OUTAGE_DIR) + 1 + LABEL_LEN + sizeof(REFUSE_KEYGEN_SUFFIX) - 1)
/* How long a hanging call sleeps between two looks at the hang file: a release takes effect within it,
 * and a blocked thread costs one access(2) per step. */
static const struct timespec HANG_POLL = {0, 20 * 1000 * 1000};

/* Writes the path of slot's down file, OUTAGE_DIR/<file>, to marker and returns its length; 0 if the
 * token has no file (not initialised, or a name that would be OUTAGE_DIR itself or its parent). */
static size_t marker_of(CK_SLOT_ID slot, char marker[MARKER_SIZE]) {
  char file[LABEL_LEN + 1];
  if (!file_of(slot, file) || file[0] == '\0' || strcmp(file, ".") == 0 || strcmp(file, "..") == 0) {
    return 0;
  }
  int len = snprintf(marker, MARKER_SIZE, "%s/%s", OUTAGE_DIR, file);
  return len > 0 ? (size_t) len : 0;
}

/* Whether the file marker (of length len) with suffix appended exists; leaves marker as it was. Checked
 * on every call, so a drill takes effect at the next call, from this process or any other. */
static CK_BBOOL exists(char marker[MARKER_SIZE], size_t len, const char *suffix) {
  /* Fits: MARKER_SIZE leaves room for the longer suffix after the longest file name. */
  strcpy(marker + len, suffix);
  CK_BBOOL found = access(marker, F_OK) == 0;
  marker[len] = '\0';
  return found;
}

/* For the calls a client library answers without the HSM: CKR_DEVICE_REMOVED if slot's token is down,
 * else CKR_OK, at once even while it hangs. */
static CK_RV check_slot(CK_SLOT_ID slot) {
  char marker[MARKER_SIZE];
  size_t len = marker_of(slot, marker);
  return len > 0 && exists(marker, len, "") ? CKR_DEVICE_REMOVED : CKR_OK;
}

/* For the calls that need the HSM to answer: sleeps while slot's token hangs, then as check_slot.
 * Holds no lock and is outside the real module while asleep, so every other call goes on. */
static CK_RV await_slot(CK_SLOT_ID slot) {
  char marker[MARKER_SIZE];
  size_t len = marker_of(slot, marker);
  if (len == 0) {
    return CKR_OK;
  }
  while (exists(marker, len, HANG_SUFFIX)) {
    nanosleep(&HANG_POLL, NULL);  /* cut short by a signal: only looks again sooner */
  }
  return exists(marker, len, "") ? CKR_DEVICE_REMOVED : CKR_OK;
}

/* Whether session is on the slot of a token that refuses C_GenerateKey. */
static CK_BBOOL refuses_keygen(CK_SESSION_HANDLE session) {
  CK_SESSION_INFO info;
  char marker[MARKER_SIZE];
  size_t len = real->C_GetSessionInfo(session, &info) == CKR_OK ? marker_of(info.slotID, marker) : 0;
  return len > 0 && exists(marker, len, REFUSE_KEYGEN_SUFFIX);
}

/* As await_slot for the slot of session: CKR_DEVICE_REMOVED if it is on a down token's slot. */
static CK_RV check_session(CK_SESSION_HANDLE session) {
  CK_SESSION_INFO info;
  /* A handle the real module does not know is not ours to judge: the real call will refuse it. */
  if (real->C_GetSessionInfo(session, &info) != CKR_OK) {
    return CKR_OK;
  }
  return await_slot(info.slotID);
}

/* The functions of CK_FUNCTION_LIST that reach a token through a slot and never block (C_OpenSession
 * and C_InitToken, which do, are below): X(name, params, args). */
#define SLOT_FUNCTIONS(X)                                                                           \
  X(C_GetTokenInfo, (CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info), (slot, info))                        \
  X(C_GetMechanismList, (CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count),          \
    (slot, list, count))                                                                            \
  X(C_GetMechanismInfo, (CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info),      \
    (slot, type, info))

/* Every function that takes a session, but C_CloseSession and C_GenerateKey (below): X(name, params, args). */
#define SESSION_FUNCTIONS(X)                                                                        \
  X(C_InitPIN, (CK_SESSION_HANDLE session, CK_UTF8CHAR_PTR pin, CK_ULONG len), (session, pin, len)) \
  X(C_SetPIN, (CK_SESSION_HANDLE session, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len,                \
    CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len), (session, old_pin, old_len, new_pin, new_len))      \
  X(C_GetSessionInfo, (CK_SESSION_HANDLE session, CK_SESSION_INFO_PTR info), (session, info))       \
  X(C_GetOperationState, (CK_SESSION_HANDLE session, CK_BYTE_PTR state, CK_ULONG_PTR len),          \
    (session, state, len))                                                                          \
  X(C_SetOperationState, (CK_SESSION_HANDLE session, CK_BYTE_PTR state, CK_ULONG len,               \
    CK_OBJECT_HANDLE enc_key, CK_OBJECT_HANDLE auth_key), (session, state, len, enc_key, auth_key)) \
  X(C_Login, (CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len),     \
    (session, user, pin, len))                                                                      \
  X(C_Logout, (CK_SESSION_HANDLE session), (session))                                               \
  X(C_CreateObject, (CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR templ, CK_ULONG count,             \
    CK_OBJECT_HANDLE_PTR object), (session, templ, count, object))                                  \
  X(C_CopyObject, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR templ,      \
    CK_ULONG count, CK_OBJECT_HANDLE_PTR copy), (session, object, templ, count, copy))              \
  X(C_DestroyObject, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object), (session, object))       \
  X(C_GetObjectSize, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ULONG_PTR size),       \
    (session, object, size))                                                                        \
  X(C_GetAttributeValue, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,                       \
    CK_ATTRIBUTE_PTR templ, CK_ULONG count), (session, object, templ, count))                       \
  X(C_SetAttributeValue, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,                       \
    CK_ATTRIBUTE_PTR templ, CK_ULONG count), (session, object, templ, count))                       \
  X(C_FindObjectsInit, (CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR templ, CK_ULONG count),         \
    (session, templ, count))                                                                        \
  X(C_FindObjects, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE_PTR objects, CK_ULONG max,          \
    CK_ULONG_PTR count), (session, objects, max, count))                                            \
  X(C_FindObjectsFinal, (CK_SESSION_HANDLE session), (session))                                     \
  /* Single-part and multi-part operations share four shapes. */                                    \
  X(C_EncryptInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),        \
    (session, mech, key))                                                                           \
  X(C_Encrypt, IN_OUT_PARAMS, IN_OUT_ARGS)                                                          \
  X(C_EncryptUpdate, IN_OUT_PARAMS, IN_OUT_ARGS)                                                    \
  X(C_EncryptFinal, OUT_PARAMS, OUT_ARGS)                                                           \
  X(C_DecryptInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),        \
    (session, mech, key))                                                                           \
  X(C_Decrypt, IN_OUT_PARAMS, IN_OUT_ARGS)                                                          \
  X(C_DecryptUpdate, IN_OUT_PARAMS, IN_OUT_ARGS)                                                    \
  X(C_DecryptFinal, OUT_PARAMS, OUT_ARGS)                                                           \
  X(C_DigestInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech), (session, mech))              \
  X(C_Digest, IN_OUT_PARAMS, IN_OUT_ARGS)                                                           \
  X(C_DigestUpdate, IN_PARAMS, IN_ARGS)                                                             \
  X(C_DigestKey, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key), (session, key))                 \
  X(C_DigestFinal, OUT_PARAMS, OUT_ARGS)                                                            \
  X(C_SignInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),           \
    (session, mech, key))                                                                           \
  X(C_Sign, IN_OUT_PARAMS, IN_OUT_ARGS)                                                             \
  X(C_SignUpdate, IN_PARAMS, IN_ARGS)                                                               \
  X(C_SignFinal, OUT_PARAMS, OUT_ARGS)                                                              \
  X(C_SignRecoverInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),    \
    (session, mech, key))                                                                           \
  X(C_SignRecover, IN_OUT_PARAMS, IN_OUT_ARGS)                                                      \
  X(C_VerifyInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),         \
    (session, mech, key))                                                                           \
  X(C_Verify, (CK_SESSION_HANDLE session, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig,         \
    CK_ULONG sig_len), (session, in, in_len, sig, sig_len))                                         \
  X(C_VerifyUpdate, IN_PARAMS, IN_ARGS)                                                             \
  X(C_VerifyFinal, IN_PARAMS, IN_ARGS)                                                              \
  X(C_VerifyRecoverInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),  \
    (session, mech, key))                                                                           \
  X(C_VerifyRecover, IN_OUT_PARAMS, IN_OUT_ARGS)                                                    \
  X(C_DigestEncryptUpdate, IN_OUT_PARAMS, IN_OUT_ARGS)                                              \
  X(C_DecryptDigestUpdate, IN_OUT_PARAMS, IN_OUT_ARGS)                                              \
  X(C_SignEncryptUpdate, IN_OUT_PARAMS, IN_OUT_ARGS)                                                \
  X(C_DecryptVerifyUpdate, IN_OUT_PARAMS, IN_OUT_ARGS)                                              \
  X(C_GenerateKeyPair, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech,                           \
    CK_ATTRIBUTE_PTR pub_templ, CK_ULONG pub_count, CK_ATTRIBUTE_PTR priv_templ,                    \
    CK_ULONG priv_count, CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv),                      \
    (session, mech, pub_templ, pub_count, priv_templ, priv_count, pub, priv))                       \
  X(C_WrapKey, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping_key,    \
    CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len),                                   \
    (session, mech, wrapping_key, key, out, out_len))                                               \
  X(C_UnwrapKey, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech,                                 \
    CK_OBJECT_HANDLE unwrapping_key, CK_BYTE_PTR in, CK_ULONG in_len, CK_ATTRIBUTE_PTR templ,       \
    CK_ULONG count, CK_OBJECT_HANDLE_PTR key),                                                      \
    (session, mech, unwrapping_key, in, in_len, templ, count, key))                                 \
  X(C_DeriveKey, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base_key,      \
    CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR key),                              \
    (session, mech, base_key, templ, count, key))                                                   \
  X(C_SeedRandom, IN_PARAMS, IN_ARGS)                                                               \
  X(C_GenerateRandom, (CK_SESSION_HANDLE session, CK_BYTE_PTR out, CK_ULONG len),                   \
    (session, out, len))                                                                            \
  X(C_GetFunctionStatus, (CK_SESSION_HANDLE session), (session))                                    \
  X(C_CancelFunction, (CK_SESSION_HANDLE session), (session))

/* The shapes: data in; data out; data in and out. */
#define IN_PARAMS (CK_SESSION_HANDLE session, CK_BYTE_PTR in, CK_ULONG in_len)
#define IN_ARGS (session, in, in_len)
#define OUT_PARAMS (CK_SESSION_HANDLE session, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
#define OUT_ARGS (session, out, out_len)
#define IN_OUT_PARAMS \
  (CK_SESSION_HANDLE session, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
#define IN_OUT_ARGS (session, in, in_len, out, out_len)

/* guarded_C_x: checks (and for a session, waits while its token hangs), then forwards to real's C_x. */
#define GUARDED_SLOT(name, params, args)        \
  static CK_RV guarded_##name params {          \
    CK_RV rv = check_slot(slot);                \
    return rv == CKR_OK ? real->name args : rv; \
  }
#define GUARDED_SESSION(name, params, args)     \
  static CK_RV guarded_##name params {          \
    CK_RV rv = check_session(session);          \
    return rv == CKR_OK ? real->name args : rv; \
  }
SLOT_FUNCTIONS(GUARDED_SLOT)
SESSION_FUNCTIONS(GUARDED_SESSION)

/* As the other session functions, and while the token's refuse-keygen file exists, a refusal in time:
 * CKR_TEMPLATE_INCONSISTENT without reaching the real module, so nothing is made (SoftHSM2 was seen
 * answering so under concurrent use, once, for a template it takes otherwise). */
static CK_RV guarded_C_GenerateKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR templ,
    CK_ULONG count, CK_OBJECT_HANDLE_PTR key) {
  CK_RV rv = check_session(session);
  if (rv == CKR_OK && refuses_keygen(session)) {
    rv = CKR_TEMPLATE_INCONSISTENT;
  }
  return rv == CKR_OK ? real->C_GenerateKey(session, mech, templ, count, key) : rv;
}

/* Opening a session asks the HSM itself: it hangs with the token. */
static CK_RV guarded_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
    CK_SESSION_HANDLE_PTR session) {
  CK_RV rv = await_slot(slot);
  return rv == CKR_OK ? real->C_OpenSession(slot, flags, app, notify, session) : rv;
}

/* Hangs with the token, as it rewrites it. A re-initialised token may get a new label: forget the
 * cached one once the real call is done. */
static CK_RV guarded_C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label) {
  CK_RV rv = await_slot(slot);
  if (rv != CKR_OK) {
    return rv;
  }
  rv = real->C_InitToken(slot, pin, len, label);
  pthread_mutex_lock(&mutex);
  for (size_t i = 0; i < slots_cached; i++) {
    if (files[i].slot == slot) {
      files[i] = files[--slots_cached];
      break;
    }
  }
  pthread_mutex_unlock(&mutex);
  return rv;
}

#define INSTALL(name, params, args) shim.name = guarded_##name;

/* C_CloseSession, C_CloseAllSessions and the slot list stay real's, as said above. */
static void replace_entries(void) {
  shim.C_InitToken = guarded_C_InitToken;
  shim.C_OpenSession = guarded_C_OpenSession;
  shim.C_GenerateKey = guarded_C_GenerateKey;
  SLOT_FUNCTIONS(INSTALL)
  SESSION_FUNCTIONS(INSTALL)
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  return forward(list, "outage-shim");
}
