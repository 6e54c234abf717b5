/*
 * A stand-in for the AWS CloudHSM PKCS#11 library (SDK 5), for tests and drills: one slot that is one
 * cluster, backed by N SoftHSM2 tokens that stand for its HSMs, reached through REAL_MODULE (SoftHSM2
 * itself, or outage-shim.c in front of it so that chosen HSMs can be taken down or made to hang). No
 * AWS CloudHSM can be reached from here, so without this nothing could show how Keyhold's
 * AWS_CLOUDHSM profile behaves against a library with CloudHSM's documented quirks (the KMS/CloudHSM
 * spec's section 7; docs/cloudhsm-standin.md). It is not a model of the HSM firmware: every key
 * operation is SoftHSM2's; the stand-in adds the cluster around it and the library's quirks.
 *
 * What it does, and why:
 * - Login: PIN "user:password" for crypto users (CKU_USER) only; the users and salted SHA-256
 *   password hashes live in STATE_DIR/users (format below), because CloudHSM users are the cluster's,
 *   not a token PIN. The backing tokens are logged in with their own fixed user PIN (hsm_pin).
 *   max_failed_logins consecutive failures lock the user (CKR_PIN_LOCKED); the count is in the users
 *   file, so it outlives C_Finalize and the process, as a lockout outlives a client.
 * - Read-only sessions: CKR_FUNCTION_FAILED, as SDK 5.
 * - Token keys (CKA_TOKEN=TRUE) made through the slot (C_GenerateKey, C_CreateObject, C_UnwrapKey) are
 *   made on every backing HSM that answers, as the cluster's key sync does; session keys on one only.
 *   A token key is usable only while it is on at least key_availability_quorum answering HSMs (SDK 5's
 *   key availability check); otherwise its use fails with CKR_FUNCTION_FAILED and the SDK's log line.
 * - Identical key values: C_GenerateKey of a token key does not call C_GenerateKey on the HSMs. The
 *   stand-in draws the value (C_GenerateRandom of the first answering HSM) and C_CreateObject's the key
 *   with that CKA_VALUE and the caller's template on each HSM. This keeps the caller's CKA_SENSITIVE,
 *   CKA_EXTRACTABLE=FALSE and CKA_WRAP_WITH_TRUSTED true on every HSM (a generate-then-wrap copy would
 *   need the key extractable), and lets a returning HSM get the key later. What it hides: the value
 *   was outside an HSM, and is kept in clear in STATE_DIR/keys (a test tool: never real key material);
 *   SoftHSM2 reports CKA_LOCAL=FALSE, CKA_ALWAYS_SENSITIVE/CKA_NEVER_EXTRACTABLE as for an imported key,
 *   and CKA_KEY_GEN_MECHANISM unavailable. A token C_UnwrapKey is replayed on each HSM with the same
 *   wrapped bytes and unwrapping key (which has one value cluster-wide), so SoftHSM2 enforces the
 *   unwrap (trusted keys, templates) on each.
 * - Handles: the caller sees one object handle per cluster key; the stand-in maps it to the handle of
 *   that key on each HSM. After a restart, keys are matched across HSMs by CKA_CLASS, CKA_LABEL and
 *   CKA_ID (a cluster key has the same ones everywhere).
 * - A returning HSM (seen down, then answering) first gets the token keys it missed and loses the ones
 *   destroyed meanwhile, replayed from STATE_DIR/keys, before any call uses it. Passwords need no
 *   replay: the users file is the cluster's one copy, so an HSM that was down never holds a stale one.
 * - CKM_CLOUDHSM_AES_GCM (0x80001087): pIv must be NULL (else CKR_MECHANISM_PARAM_INVALID); the module
 *   draws the 12-byte IV and the output is IV || ciphertext || tag; decryption takes the IV from the
 *   first 12 bytes. Single-part only (multi-part: CKR_MECHANISM_INVALID). Encrypt/decrypt only.
 * - CKM_AES_GCM encryption: pIv must be a 12-byte writable buffer; it is zeroized at C_EncryptInit and
 *   the module's IV written into it. gcm_caller_iv = refuse makes a non-zero buffer (a caller's own
 *   IV) fail with CKR_MECHANISM_PARAM_INVALID instead (UNCONFIRMED which CloudHSM does).
 * - A failed GCM tag (SoftHSM2 2.6.1 says CKR_GENERAL_ERROR) becomes bad_tag_rv.
 * - Functions CloudHSM lacks return missing_function_rv (CKR_FUNCTION_NOT_SUPPORTED by default).
 * - Keys made outside the stand-in (a provisioned wrapping key) are used where found, never copied: a
 *   returning HSM keeps or lacks them as it was.
 * - Not modelled: users other than crypto users, key sharing and ownership, trusted-key rules beyond
 *   SoftHSM2's own, token key pairs and token keys from C_DeriveKey (refused:
 *   CKR_TEMPLATE_INCONSISTENT), GCM key wrapping, several clusters in one library (build one stand-in
 *   per cluster). A hung HSM blocks the calls routed to it and token key creation until released.
 *
 * Files in STATE_DIR:
 *   standin.conf   read at every C_Initialize: "name = value" lines, '#' comments:
 *                    slot_label = <label of the slot's token>      (required)
 *                    hsm = <backing token label>                   (one line per HSM, in order; >= 1)
 *                    hsm_pin = <backing tokens' user PIN>          (required)
 *                    max_failed_logins = 5
 *                    key_availability_quorum = 2                   (0 or 1: no check)
 *                    bad_tag_rv = CKR_ENCRYPTED_DATA_INVALID       (or CKR_GENERAL_ERROR, or a number)
 *                    missing_function_rv = CKR_FUNCTION_NOT_SUPPORTED
 *                    gcm_caller_iv = overwrite                     (or refuse)
 *   users          one line per crypto user: "<name> <salt hex> <sha256(salt || password) hex> <failures>";
 *                  read at each C_Login, rewritten (temporary file + rename) when the count changes.
 *                  A "cloudhsm-cli" stand-in changes a password by writing a new salt and hash and a
 *                  count of 0 (which also unlocks the user), as CloudHsmStandIn.setPassword does.
 *   keys           append-only journal of the cluster's token keys (recipes, values in clear);
 *                  owner-only, as users.
 *   standin.log    what the stand-in did that a test may look for; never a PIN or a key value.
 *   logins/<pid>   the user that process is logged in as, while it is: the CLI stand-in refuses to
 *                  change the password of a user logged in anywhere else, as the CloudHSM CLI does.
 *
 * Build: gcc -shared -fPIC -O2 -I/usr/include/softhsm -DREAL_MODULE=\"/path/to/backing.so\"
 *        -DSTATE_DIR=\"/abs/dir\" -Wl,-z,nodelete -o cloudhsm-standin.so cloudhsm-standin.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "forwarding.h"

#ifndef STATE_DIR
#error "define STATE_DIR as the quoted absolute path of the stand-in's state directory"
#endif

/* AWS CloudHSM's vendor GCM: CKM_VENDOR_DEFINED | CKM_AES_GCM. */
#define CKM_CLOUDHSM_AES_GCM (CKM_VENDOR_DEFINED | CKM_AES_GCM)
#define GCM_IV_LEN 12
#define MAX_HSMS 8
#define MAX_SESSIONS 512
/* The one slot: SDK 5 with one cluster shows its token on slot 0... here slot 1, as slot 0 reads
 * like "no slot" in some clients' logs; clients find tokens by label anyway. */
#define STANDIN_SLOT 1
#define LABEL_LEN 32

/* ---------- configuration (standin.conf), read at C_Initialize ---------- */

static struct {
  char slot_label[LABEL_LEN + 1];
  char hsm[MAX_HSMS][LABEL_LEN + 1];
  int hsms;
  char hsm_pin[256];
  unsigned max_failed_logins;
  unsigned quorum;
  CK_RV bad_tag_rv;
  CK_RV missing_function_rv;
  CK_BBOOL refuse_caller_iv;
} config;

/* ---------- state: guarded by mutex (forwarding.h's) unless said otherwise ---------- */

/* One backing HSM. */
static struct {
  CK_SLOT_ID slot;
  CK_BBOOL slot_known;
  /* Opened and logged in with hsm_pin once; never closed until C_Finalize: closing an application's
   * last session on a SoftHSM2 token logs it out. Used only under sync_lock. */
  CK_SESSION_HANDLE anchor;
  /* Seen down (or not looked at since C_Initialize): must get what it missed before it is used. */
  CK_BBOOL needs_sync;
} hsm[MAX_HSMS];

/* One journal entry of STATE_DIR/keys: how to make a token key on an HSM. */
typedef struct {
  CK_BBOOL deleted;
  char kind;                /* 'V': C_CreateObject(templ); 'U': C_UnwrapKey(unwrapper, mech, blob, templ) */
  long unwrapper;           /* record index of the unwrapping key ('U') */
  CK_MECHANISM_TYPE mech;   /* 'U' */
  CK_BYTE *param, *blob;    /* 'U': flat mechanism parameter, wrapped bytes */
  CK_ULONG param_len, blob_len;
  CK_ATTRIBUTE *templ;      /* flat attributes only */
  CK_ULONG count;
} record_t;

static record_t *records;
static long record_count, record_capacity;

/* One cluster object as the caller sees it: handle = index + 1. */
typedef struct {
  CK_BBOOL used, token;
  long record;                        /* -1: not made through the stand-in (or a session object) */
  CK_OBJECT_CLASS cls;                /* identity across HSMs: class, label, id */
  CK_BYTE label[256], id[128];
  CK_ULONG label_len, id_len;
  CK_OBJECT_HANDLE on[MAX_HSMS];      /* 0: not on that HSM (as far as known) */
  CK_SESSION_HANDLE owner;            /* session object: the stand-in session that made it */
} object_t;

static object_t *objects;
static long object_count, object_capacity;

enum gcm_kind { GCM_NONE, GCM_CLOUDHSM, GCM_PLAIN };

/* A caller's session: handle = index + 1. A session is used by one thread at a time (PKCS#11). */
/* An active encryption or decryption. Under CKM_CLOUDHSM_AES_GCM the real C_EncryptInit or
 * C_DecryptInit waits for C_Encrypt or C_Decrypt (the IV is drawn there, or read from the input), so
 * that a refused multi-part call leaves no real operation active: key, aad and tag_bits are what it
 * will need. */
typedef struct {
  int hsm;  /* -1: none */
  enum gcm_kind gcm;
  CK_OBJECT_HANDLE key;
  CK_BYTE *aad;
  CK_ULONG aad_len, tag_bits;
} cipher_op;

typedef struct {
  CK_BBOOL used;
  CK_SESSION_HANDLE on[MAX_HSMS];     /* backing sessions, opened when first needed */
  CK_OBJECT_HANDLE *found;            /* C_FindObjects' results */
  CK_ULONG found_count, found_next;
  CK_BBOOL finding;
  cipher_op enc, dec;
  int sign_hsm, verify_hsm, digest_hsm;  /* HSM of each active operation, -1: none */
} session_t;

static session_t sessions[MAX_SESSIONS];
static CK_BBOOL initialized;
static CK_BBOOL logged_in;            /* PKCS#11 login is per application, not per session */
/* Serialises whatever writes to several HSMs (key creation, destruction, sync) and the anchors. */
static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------- small helpers ---------- */

static void log_line(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Appends a line to STATE_DIR/standin.log and stderr. Callers never pass a PIN or a key value. */
static void log_line(const char *format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof line, format, args);
  va_end(args);
  fprintf(stderr, "cloudhsm-standin: %s\n", line);
  FILE *log = fopen(STATE_DIR "/standin.log", "a");
  if (log != NULL) {
    fprintf(log, "%s\n", line);
    fclose(log);
  }
}

/* Where this process's login is recorded, STATE_DIR/logins/<pid> holding the user's name, so that the
 * CLI stand-in can refuse to change the password of a user logged in anywhere, as the CloudHSM CLI
 * does. A process that dies logged in leaves its file; the CLI ignores files of processes gone. */
static void login_path(char *path, size_t size) {
  snprintf(path, size, "%s/logins/%ld", STATE_DIR, (long) getpid());
}

static void record_login(const char *user) {
  char dir[4096], path[4096];
  snprintf(dir, sizeof dir, "%s/logins", STATE_DIR);
  mkdir(dir, 0700);
  login_path(path, sizeof path);
  FILE *file = fopen(path, "w");
  if (file != NULL) {
    fprintf(file, "%s\n", user);
    fclose(file);
  }
  logged_in = CK_TRUE;
}

static void record_logout(void) {
  char path[4096];
  login_path(path, sizeof path);
  unlink(path);
  logged_in = CK_FALSE;
}

static CK_ATTRIBUTE *find_attr(CK_ATTRIBUTE *templ, CK_ULONG count, CK_ATTRIBUTE_TYPE type) {
  for (CK_ULONG i = 0; i < count; i++) {
    if (templ[i].type == type) {
      return &templ[i];
    }
  }
  return NULL;
}

static CK_BBOOL bool_attr(CK_ATTRIBUTE *templ, CK_ULONG count, CK_ATTRIBUTE_TYPE type, CK_BBOOL fallback) {
  CK_ATTRIBUTE *a = find_attr(templ, count, type);
  return a != NULL && a->pValue != NULL && a->ulValueLen == sizeof(CK_BBOOL) ? *(CK_BBOOL *) a->pValue : fallback;
}

static CK_ULONG ulong_attr(CK_ATTRIBUTE *templ, CK_ULONG count, CK_ATTRIBUTE_TYPE type, CK_ULONG fallback) {
  CK_ATTRIBUTE *a = find_attr(templ, count, type);
  return a != NULL && a->pValue != NULL && a->ulValueLen == sizeof(CK_ULONG) ? *(CK_ULONG *) a->pValue : fallback;
}

static void to_hex(const CK_BYTE *bytes, CK_ULONG len, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (CK_ULONG i = 0; i < len; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * len] = '\0';
}

/* Decodes hex (or "-", empty) into a new buffer; false on bad input. */
static CK_BBOOL from_hex(const char *hex, CK_BYTE **out, CK_ULONG *len) {
  size_t n = strcmp(hex, "-") == 0 ? 0 : strlen(hex);
  if (n % 2 != 0) {
    *out = NULL;
    *len = 0;
    return CK_FALSE;
  }
  *len = n / 2;
  *out = malloc(*len + 1);
  for (size_t i = 0; i < *len; i++) {
    unsigned byte;
    if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
      free(*out);
      *out = NULL;
      *len = 0;
      return CK_FALSE;
    }
    (*out)[i] = (CK_BYTE) byte;
  }
  return CK_TRUE;
}

static void pad_copy(CK_UTF8CHAR *dst, size_t size, const char *src) {
  memset(dst, ' ', size);
  size_t n = strlen(src);
  memcpy(dst, src, n < size ? n : size);
}

/* A template's deep copy; refuses array attributes (CKA_UNWRAP_TEMPLATE...), which the journal cannot
 * hold. Values are copied as given. */
static CK_RV copy_template(CK_ATTRIBUTE *templ, CK_ULONG count, CK_ATTRIBUTE **out) {
  *out = calloc(count + 2, sizeof(CK_ATTRIBUTE));  /* + room for attributes the stand-in adds */
  for (CK_ULONG i = 0; i < count; i++) {
    if (templ[i].type & CKF_ARRAY_ATTRIBUTE) {
      free(*out);
      return CKR_TEMPLATE_INCONSISTENT;
    }
    (*out)[i].type = templ[i].type;
    (*out)[i].ulValueLen = templ[i].ulValueLen;
    (*out)[i].pValue = malloc(templ[i].ulValueLen + 1);
    if (templ[i].pValue != NULL) {
      memcpy((*out)[i].pValue, templ[i].pValue, templ[i].ulValueLen);
    }
  }
  return CKR_OK;
}

static void free_template(CK_ATTRIBUTE *templ, CK_ULONG count) {
  if (templ == NULL) {
    return;
  }
  for (CK_ULONG i = 0; i < count; i++) {
    if (templ[i].type == CKA_VALUE && templ[i].pValue != NULL) {
      memset(templ[i].pValue, 0, templ[i].ulValueLen);
    }
    free(templ[i].pValue);
  }
  free(templ);
}

/* ---------- configuration ---------- */

static CK_RV parse_rv(const char *value, CK_RV *out) {
  static const struct { const char *name; CK_RV rv; } names[] = {
    {"CKR_ENCRYPTED_DATA_INVALID", CKR_ENCRYPTED_DATA_INVALID}, {"CKR_GENERAL_ERROR", CKR_GENERAL_ERROR},
    {"CKR_FUNCTION_NOT_SUPPORTED", CKR_FUNCTION_NOT_SUPPORTED}, {"CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED},
    {"CKR_AEAD_DECRYPT_FAILED", 0x35UL},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(value, names[i].name) == 0) {
      *out = names[i].rv;
      return CKR_OK;
    }
  }
  char *end;
  unsigned long number = strtoul(value, &end, 0);
  if (*value == '\0' || *end != '\0') {
    return CKR_ARGUMENTS_BAD;
  }
  *out = number;
  return CKR_OK;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') {
    s++;
  }
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) {
    s[--n] = '\0';
  }
  return s;
}

/* Reads standin.conf; CKR_GENERAL_ERROR (and a log line naming the fault) if it is unusable. */
static CK_RV read_config(void) {
  memset(&config, 0, sizeof config);
  config.max_failed_logins = 5;
  config.quorum = 2;
  config.bad_tag_rv = CKR_ENCRYPTED_DATA_INVALID;
  config.missing_function_rv = CKR_FUNCTION_NOT_SUPPORTED;
  FILE *file = fopen(STATE_DIR "/standin.conf", "r");
  if (file == NULL) {
    log_line("cannot read %s/standin.conf: %s", STATE_DIR, strerror(errno));
    return CKR_GENERAL_ERROR;
  }
  char buffer[512];
  CK_RV rv = CKR_OK;
  while (rv == CKR_OK && fgets(buffer, sizeof buffer, file) != NULL) {
    char *line = trim(buffer);
    if (*line == '#' || *line == '\0') {
      continue;
    }
    char *equals = strchr(line, '=');
    if (equals == NULL) {
      rv = CKR_GENERAL_ERROR;
      break;
    }
    *equals = '\0';
    char *name = trim(line), *value = trim(equals + 1);
    if (strcmp(name, "slot_label") == 0 && strlen(value) <= LABEL_LEN) {
      strcpy(config.slot_label, value);
    } else if (strcmp(name, "hsm") == 0 && strlen(value) <= LABEL_LEN && config.hsms < MAX_HSMS) {
      strcpy(config.hsm[config.hsms++], value);
    } else if (strcmp(name, "hsm_pin") == 0 && strlen(value) < sizeof config.hsm_pin) {
      strcpy(config.hsm_pin, value);
    } else if (strcmp(name, "max_failed_logins") == 0) {
      config.max_failed_logins = (unsigned) strtoul(value, NULL, 10);
    } else if (strcmp(name, "key_availability_quorum") == 0) {
      config.quorum = (unsigned) strtoul(value, NULL, 10);
    } else if (strcmp(name, "bad_tag_rv") == 0) {
      rv = parse_rv(value, &config.bad_tag_rv);
    } else if (strcmp(name, "missing_function_rv") == 0) {
      rv = parse_rv(value, &config.missing_function_rv);
    } else if (strcmp(name, "gcm_caller_iv") == 0 && (strcmp(value, "refuse") == 0 || strcmp(value, "overwrite") == 0)) {
      config.refuse_caller_iv = strcmp(value, "refuse") == 0;
    } else {
      rv = CKR_GENERAL_ERROR;
    }
    if (rv != CKR_OK) {
      log_line("standin.conf: bad setting '%s'", name);  /* never the value: it may be hsm_pin */
    }
  }
  fclose(file);
  if (rv == CKR_OK && (config.slot_label[0] == '\0' || config.hsms == 0 || config.hsm_pin[0] == '\0')) {
    log_line("standin.conf needs slot_label, hsm_pin and at least one hsm");
    rv = CKR_GENERAL_ERROR;
  }
  return rv == CKR_OK ? CKR_OK : CKR_GENERAL_ERROR;
}

/* ---------- backing HSMs ---------- */

/* Whether a return value says the HSM (or our session on it) is gone rather than the request wrong. */
static CK_BBOOL is_lost(CK_RV rv) {
  return rv == CKR_DEVICE_REMOVED || rv == CKR_DEVICE_ERROR || rv == CKR_TOKEN_NOT_PRESENT ||
         rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_SLOT_ID_INVALID;
}

/* Whether HSM h answers now. Finds its slot by label first (SoftHSM2 renumbers slots, and a down
 * HSM's label cannot be read through the outage shim, so the lookup is retried until it works). */
static CK_BBOOL hsm_up(int h) {
  CK_TOKEN_INFO info;
  if (hsm[h].slot_known) {
    return real->C_GetTokenInfo(hsm[h].slot, &info) == CKR_OK;
  }
  CK_SLOT_ID slots[64];
  CK_ULONG count = 64;
  if (real->C_GetSlotList(CK_TRUE, slots, &count) != CKR_OK) {
    return CK_FALSE;
  }
  CK_UTF8CHAR want[LABEL_LEN];
  pad_copy(want, LABEL_LEN, config.hsm[h]);
  for (CK_ULONG i = 0; i < count; i++) {
    if (real->C_GetTokenInfo(slots[i], &info) == CKR_OK && memcmp(info.label, want, LABEL_LEN) == 0) {
      pthread_mutex_lock(&mutex);
      hsm[h].slot = slots[i];
      hsm[h].slot_known = CK_TRUE;
      pthread_mutex_unlock(&mutex);
      return CK_TRUE;
    }
  }
  return CK_FALSE;
}

/* Opens HSM h's anchor session and logs it in with hsm_pin. Under sync_lock. */
static CK_RV anchor_of(int h, CK_SESSION_HANDLE *out) {
  if (hsm[h].anchor == 0) {
    CK_SESSION_HANDLE anchor;
    CK_RV rv = real->C_OpenSession(hsm[h].slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &anchor);
    if (rv != CKR_OK) {
      return rv;
    }
    rv = real->C_Login(anchor, CKU_USER, (CK_UTF8CHAR_PTR) config.hsm_pin, strlen(config.hsm_pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {  /* another client of SoftHSM2 in this process */
      log_line("cannot log in to backing HSM '%s': 0x%lx", config.hsm[h], rv);
      real->C_CloseSession(anchor);
      return rv;
    }
    hsm[h].anchor = anchor;
  }
  *out = hsm[h].anchor;
  return CKR_OK;
}

/* The backing session of caller session s on HSM h, opened if needed. */
static CK_RV session_on(session_t *s, int h, CK_SESSION_HANDLE *out) {
  if (s->on[h] == 0) {
    CK_RV rv = real->C_OpenSession(hsm[h].slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s->on[h]);
    if (rv != CKR_OK) {
      s->on[h] = 0;
      return rv;
    }
  }
  *out = s->on[h];
  return CKR_OK;
}

/* ---------- objects ---------- */

/* A new object entry (zeroed, used); returns its index. Under mutex. */
static long new_object(void) {
  for (long i = 0; i < object_count; i++) {
    if (!objects[i].used) {
      memset(&objects[i], 0, sizeof objects[i]);
      objects[i].used = CK_TRUE;
      objects[i].record = -1;
      return i;
    }
  }
  if (object_count == object_capacity) {
    object_capacity = object_capacity == 0 ? 256 : 2 * object_capacity;
    objects = realloc(objects, object_capacity * sizeof(object_t));
  }
  memset(&objects[object_count], 0, sizeof(object_t));
  objects[object_count].used = CK_TRUE;
  objects[object_count].record = -1;
  return object_count++;
}

/* Sets an entry's identity (class, label, id) from a template. */
static void identify(object_t *o, CK_ATTRIBUTE *templ, CK_ULONG count) {
  o->cls = ulong_attr(templ, count, CKA_CLASS, CKO_SECRET_KEY);
  CK_ATTRIBUTE *label = find_attr(templ, count, CKA_LABEL), *id = find_attr(templ, count, CKA_ID);
  o->label_len = label == NULL ? 0 : (label->ulValueLen < sizeof o->label ? label->ulValueLen : sizeof o->label);
  o->id_len = id == NULL ? 0 : (id->ulValueLen < sizeof o->id ? id->ulValueLen : sizeof o->id);
  if (o->label_len > 0) {
    memcpy(o->label, label->pValue, o->label_len);
  }
  if (o->id_len > 0) {
    memcpy(o->id, id->pValue, o->id_len);
  }
}

/* A copy of the entry behind caller handle `handle`; false if it names none. */
static CK_BBOOL object_copy(CK_OBJECT_HANDLE handle, object_t *out) {
  pthread_mutex_lock(&mutex);
  CK_BBOOL ok = handle >= 1 && (long) handle <= object_count && objects[handle - 1].used;
  if (ok) {
    *out = objects[handle - 1];
  }
  pthread_mutex_unlock(&mutex);
  return ok;
}

/* The caller handle of HSM h's object x, if mapped. Under mutex. */
static long mapped(int h, CK_OBJECT_HANDLE x) {
  for (long i = 0; i < object_count; i++) {
    if (objects[i].used && objects[i].on[h] == x) {
      return i;
    }
  }
  return -1;
}

/* Reads class, label, id and token flag of HSM object x through backing session bs. */
static CK_RV read_identity(CK_SESSION_HANDLE bs, CK_OBJECT_HANDLE x, object_t *o) {
  CK_BBOOL token = CK_FALSE;
  CK_ATTRIBUTE attrs[] = {
    {CKA_CLASS, &o->cls, sizeof o->cls}, {CKA_LABEL, o->label, sizeof o->label},
    {CKA_ID, o->id, sizeof o->id}, {CKA_TOKEN, &token, sizeof token},
  };
  CK_RV rv = real->C_GetAttributeValue(bs, x, attrs, 4);
  if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_BUFFER_TOO_SMALL) {
    return rv;
  }
  o->label_len = attrs[1].ulValueLen == (CK_ULONG) -1 ? 0 : attrs[1].ulValueLen;
  o->id_len = attrs[2].ulValueLen == (CK_ULONG) -1 ? 0 : attrs[2].ulValueLen;
  o->token = token;
  return CKR_OK;
}

static CK_BBOOL same_identity(const object_t *a, const object_t *b) {
  return a->cls == b->cls && a->label_len == b->label_len && a->id_len == b->id_len &&
         memcmp(a->label, b->label, a->label_len) == 0 && memcmp(a->id, b->id, a->id_len) == 0;
}

/* The caller handle for HSM h's object x (read through bs): its entry, or the token entry of the same
 * identity that lacks h, or a new entry. 0 for a session object the stand-in did not make (another
 * client's in this process). */
static CK_OBJECT_HANDLE handle_for(int h, CK_SESSION_HANDLE bs, CK_OBJECT_HANDLE x) {
  pthread_mutex_lock(&mutex);
  long i = mapped(h, x);
  pthread_mutex_unlock(&mutex);
  if (i >= 0) {
    return (CK_OBJECT_HANDLE) i + 1;
  }
  object_t seen;
  memset(&seen, 0, sizeof seen);
  if (read_identity(bs, x, &seen) != CKR_OK || !seen.token) {
    return 0;
  }
  pthread_mutex_lock(&mutex);
  i = mapped(h, x);  /* another thread may have mapped it meanwhile */
  for (long j = 0; i < 0 && j < object_count; j++) {
    if (objects[j].used && objects[j].token && objects[j].on[h] == 0 && same_identity(&objects[j], &seen)) {
      objects[j].on[h] = x;
      i = j;
    }
  }
  if (i < 0) {
    i = new_object();
    seen.used = CK_TRUE;
    seen.record = -1;
    seen.on[h] = x;
    objects[i] = seen;
  }
  pthread_mutex_unlock(&mutex);
  return (CK_OBJECT_HANDLE) i + 1;
}

/* ---------- the key journal (STATE_DIR/keys) ---------- */

/* Opens a state file owner-only (it may hold key values or password hashes), as fopen's mode. */
static FILE *open_private(const char *path, int flags, const char *mode) {
  int fd = open(path, flags | O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  return fd < 0 ? NULL : fdopen(fd, mode);
}

static void append_journal(const char *line) {
  FILE *file = open_private(STATE_DIR "/keys", O_APPEND, "a");
  if (file == NULL) {
    log_line("cannot write %s/keys: %s", STATE_DIR, strerror(errno));
    return;
  }
  fputs(line, file);
  fputc('\n', file);
  fflush(file);
  fsync(fileno(file));
  fclose(file);
}

/* Writes record r as "key <r> <kind> <unwrapper> <mech> <param> <blob> <count> <type>=<hex>...". */
static void journal_record(long r) {
  record_t *rec = &records[r];
  size_t size = 128 + 2 * (rec->param_len + rec->blob_len);
  for (CK_ULONG i = 0; i < rec->count; i++) {
    size += 24 + 2 * rec->templ[i].ulValueLen;
  }
  char *line = malloc(size), *p = line;
  p += sprintf(p, "key %ld %c %ld %lx ", r, rec->kind, rec->unwrapper, rec->mech);
  if (rec->param_len == 0) {
    *p++ = '-';
  } else {
    to_hex(rec->param, rec->param_len, p);
    p += strlen(p);
  }
  *p++ = ' ';
  if (rec->blob_len == 0) {
    *p++ = '-';
  } else {
    to_hex(rec->blob, rec->blob_len, p);
    p += strlen(p);
  }
  p += sprintf(p, " %lu", rec->count);
  for (CK_ULONG i = 0; i < rec->count; i++) {
    p += sprintf(p, " %lx=", rec->templ[i].type);
    if (rec->templ[i].ulValueLen == 0) {
      *p++ = '-';
    } else {
      to_hex(rec->templ[i].pValue, rec->templ[i].ulValueLen, p);
      p += strlen(p);
    }
  }
  *p = '\0';
  append_journal(line);
  memset(line, 0, size);  /* it held a key value */
  free(line);
}

/* Adds a record (taking ownership of its buffers) and its object entry; returns the entry. Under mutex. */
static long add_record(record_t rec) {
  if (record_count == record_capacity) {
    record_capacity = record_capacity == 0 ? 64 : 2 * record_capacity;
    records = realloc(records, record_capacity * sizeof(record_t));
  }
  records[record_count] = rec;
  long o = new_object();
  objects[o].token = CK_TRUE;
  objects[o].record = record_count++;
  identify(&objects[o], rec.templ, rec.count);
  return o;
}

/* The next word of a journal line; "-" past its end, so that a torn last line reads as empty. */
static char *next_word(char **save) {
  char *word = strtok_r(NULL, " \n", save);
  return word == NULL ? "-" : word;
}

/* Loads STATE_DIR/keys: every live record gets an entry, mapped to HSMs at their first sync. */
static void load_journal(void) {
  FILE *file = fopen(STATE_DIR "/keys", "r");
  if (file == NULL) {
    return;  /* no key made yet */
  }
  char *line = NULL;
  size_t capacity = 0;
  while (getline(&line, &capacity, file) > 0) {
    char *save, *word = strtok_r(line, " \n", &save);
    if (word != NULL && strcmp(word, "del") == 0) {
      long r = strtol(next_word(&save), NULL, 10);
      if (r >= 0 && r < record_count) {
        records[r].deleted = CK_TRUE;
        for (long i = 0; i < object_count; i++) {
          if (objects[i].used && objects[i].record == r) {
            objects[i].used = CK_FALSE;
          }
        }
      }
      continue;
    }
    if (word == NULL || strcmp(word, "key") != 0) {
      continue;
    }
    record_t rec;
    memset(&rec, 0, sizeof rec);
    next_word(&save);  /* the record number: the line's position says it */
    rec.kind = *next_word(&save);
    rec.unwrapper = strtol(next_word(&save), NULL, 10);
    rec.mech = strtoul(next_word(&save), NULL, 16);
    from_hex(next_word(&save), &rec.param, &rec.param_len);
    from_hex(next_word(&save), &rec.blob, &rec.blob_len);
    rec.count = strtoul(next_word(&save), NULL, 10);
    if (rec.count > 1024) {
      rec.count = 0;  /* a torn line: a record that matches nothing */
    }
    rec.templ = calloc(rec.count + 1, sizeof(CK_ATTRIBUTE));
    for (CK_ULONG i = 0; i < rec.count; i++) {
      char *attr = strtok_r(NULL, " \n", &save);
      char *equals = attr == NULL ? NULL : strchr(attr, '=');
      if (equals == NULL) {
        break;
      }
      *equals = '\0';
      rec.templ[i].type = strtoul(attr, NULL, 16);
      from_hex(equals + 1, (CK_BYTE **) &rec.templ[i].pValue, &rec.templ[i].ulValueLen);
    }
    add_record(rec);
  }
  if (line != NULL) {
    memset(line, 0, capacity);
  }
  free(line);
  fclose(file);
}

/* Makes record r on HSM h through its anchor a; writes the HSM's handle to x. */
static CK_RV replay(long r, int h, CK_SESSION_HANDLE a, CK_OBJECT_HANDLE *x) {
  record_t *rec = &records[r];
  if (rec->kind == 'V') {
    return real->C_CreateObject(a, rec->templ, rec->count, x);
  }
  if (rec->kind == 'F') {
    return CKR_OBJECT_HANDLE_INVALID;  /* made outside the stand-in: nothing to replay */
  }
  CK_OBJECT_HANDLE unwrapper = 0;
  pthread_mutex_lock(&mutex);
  for (long i = 0; i < object_count; i++) {
    if (objects[i].used && objects[i].record == rec->unwrapper) {
      unwrapper = objects[i].on[h];
    }
  }
  pthread_mutex_unlock(&mutex);
  if (unwrapper == 0) {
    return CKR_UNWRAPPING_KEY_HANDLE_INVALID;
  }
  CK_MECHANISM mech = {rec->mech, rec->param_len ? rec->param : NULL, rec->param_len};
  return real->C_UnwrapKey(a, &mech, unwrapper, rec->blob, rec->blob_len, rec->templ, rec->count, x);
}

/* Finds the token objects of o's identity on HSM h (through anchor a), up to max. */
static CK_ULONG find_identity(CK_SESSION_HANDLE a, const object_t *o, CK_OBJECT_HANDLE *found, CK_ULONG max) {
  CK_BBOOL yes = CK_TRUE;
  CK_OBJECT_CLASS cls = o->cls;
  CK_ATTRIBUTE templ[] = {
    {CKA_TOKEN, &yes, sizeof yes}, {CKA_CLASS, &cls, sizeof cls},
    {CKA_LABEL, (void *) o->label, o->label_len}, {CKA_ID, (void *) o->id, o->id_len},
  };
  CK_ULONG count = 0;
  if (real->C_FindObjectsInit(a, templ, 4) == CKR_OK) {
    real->C_FindObjects(a, found, max, &count);
    real->C_FindObjectsFinal(a);
  }
  return count;
}

/* Gives returning HSM h what the cluster did while it was away: the token keys it lacks (replayed
 * from the journal, in order, so that an unwrapping key comes before the keys it unwrapped) and the
 * removal of keys destroyed meanwhile. Under sync_lock. */
static CK_RV sync_hsm(int h) {
  CK_SESSION_HANDLE a;
  CK_RV rv = anchor_of(h, &a);
  if (rv != CKR_OK) {
    return rv;
  }
  int copied = 0, removed = 0;
  for (long r = 0; r < record_count; r++) {
    if (records[r].deleted) {
      continue;
    }
    pthread_mutex_lock(&mutex);
    long o = -1;
    for (long i = 0; i < object_count && o < 0; i++) {
      if (objects[i].used && objects[i].record == r) {
        o = i;
      }
    }
    object_t copy;
    if (o >= 0) {
      copy = objects[o];
    }
    pthread_mutex_unlock(&mutex);
    if (o < 0 || copy.on[h] != 0) {
      continue;
    }
    CK_OBJECT_HANDLE found[16];
    CK_ULONG n = find_identity(a, &copy, found, 16);
    CK_OBJECT_HANDLE x = 0;
    pthread_mutex_lock(&mutex);
    for (CK_ULONG k = 0; k < n && x == 0; k++) {
      if (mapped(h, found[k]) < 0) {
        x = found[k];
      }
    }
    pthread_mutex_unlock(&mutex);
    if (x == 0) {
      rv = replay(r, h, a, &x);
      if (rv != CKR_OK) {
        log_line("cannot copy key %ld to HSM '%s': 0x%lx", o + 1, config.hsm[h], rv);
        if (is_lost(rv)) {
          return rv;
        }
        continue;
      }
      copied++;
    }
    pthread_mutex_lock(&mutex);
    objects[o].on[h] = x;
    pthread_mutex_unlock(&mutex);
  }
  /* Keys destroyed while h was away: the objects of their identity that no live key claims. */
  for (long r = 0; r < record_count; r++) {
    if (!records[r].deleted) {
      continue;
    }
    object_t ghost;
    memset(&ghost, 0, sizeof ghost);
    identify(&ghost, records[r].templ, records[r].count);
    CK_OBJECT_HANDLE found[16];
    CK_ULONG n = find_identity(a, &ghost, found, 16);
    for (CK_ULONG k = 0; k < n; k++) {
      pthread_mutex_lock(&mutex);
      CK_BBOOL claimed = mapped(h, found[k]) >= 0;
      pthread_mutex_unlock(&mutex);
      if (!claimed && real->C_DestroyObject(a, found[k]) == CKR_OK) {
        removed++;
      }
    }
  }
  if (copied + removed > 0) {
    log_line("HSM '%s' synced: %d key(s) copied, %d removed", config.hsm[h], copied, removed);
  }
  return CKR_OK;
}

/* Looks at every HSM: one seen down is marked; one back (or new since C_Initialize) is synced first.
 * Sets up[h]; returns how many answer. */
static int refresh(CK_BBOOL up[MAX_HSMS]) {
  int answering = 0;
  for (int h = 0; h < config.hsms; h++) {
    up[h] = hsm_up(h);
    if (!up[h]) {
      hsm[h].needs_sync = CK_TRUE;
      continue;
    }
    if (hsm[h].needs_sync) {
      pthread_mutex_lock(&sync_lock);
      if (hsm[h].needs_sync && sync_hsm(h) == CKR_OK) {
        hsm[h].needs_sync = CK_FALSE;
      }
      pthread_mutex_unlock(&sync_lock);
    }
    answering++;
  }
  return answering;
}

/* ---------- sessions ---------- */

static session_t *session_of(CK_SESSION_HANDLE handle) {
  if (!initialized) {
    return NULL;
  }
  return handle >= 1 && handle <= MAX_SESSIONS && sessions[handle - 1].used ? &sessions[handle - 1] : NULL;
}

#define SESSION(s, handle)                                      \
  session_t *s = session_of(handle);                            \
  if (!initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;        \
  if (s == NULL) return CKR_SESSION_HANDLE_INVALID;

#define LOGGED_IN()                                             \
  if (!logged_in) return CKR_USER_NOT_LOGGED_IN;

static void end_find(session_t *s) {
  free(s->found);
  s->found = NULL;
  s->found_count = s->found_next = 0;
  s->finding = CK_FALSE;
}

static void end_cipher(cipher_op *op) {
  free(op->aad);
  op->aad = NULL;
  op->hsm = -1;
  op->gcm = GCM_NONE;
}

/* CKM_CLOUDHSM_AES_GCM's init on HSM h: keeps what the single-part call will need. */
static void hold_vendor_gcm(cipher_op *op, int h, CK_OBJECT_HANDLE x, const CK_GCM_PARAMS *gcm) {
  op->hsm = h;
  op->gcm = GCM_CLOUDHSM;
  op->key = x;
  op->tag_bits = gcm->ulTagBits;
  op->aad_len = gcm->ulAADLen;
  op->aad = malloc(gcm->ulAADLen + 1);
  if (gcm->ulAADLen > 0) {
    memcpy(op->aad, gcm->pAAD, gcm->ulAADLen);
  }
}

/* Whether a single-part call's or a final's outcome ends the operation: all but a size query. */
static CK_BBOOL ends_operation(CK_RV rv, const void *out) {
  return !(rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL));
}

static void close_session(session_t *s, CK_SESSION_HANDLE handle) {
  for (int h = 0; h < config.hsms; h++) {
    if (s->on[h] != 0) {
      real->C_CloseSession(s->on[h]);  /* SoftHSM2 destroys the session's objects with it */
    }
  }
  end_find(s);
  end_cipher(&s->enc);
  end_cipher(&s->dec);
  pthread_mutex_lock(&mutex);
  for (long i = 0; i < object_count; i++) {
    if (objects[i].used && !objects[i].token && objects[i].owner == handle) {
      objects[i].used = CK_FALSE;
    }
  }
  memset(s, 0, sizeof *s);
  pthread_mutex_unlock(&mutex);
}

/* ---------- general and slot functions ---------- */

static CK_RV si_Initialize(CK_VOID_PTR args) {
  pthread_mutex_lock(&sync_lock);
  CK_RV rv = initialized ? CKR_CRYPTOKI_ALREADY_INITIALIZED : read_config();
  if (rv == CKR_OK) {
    rv = shim_initialize(args);
  }
  if (rv == CKR_OK) {
    memset(hsm, 0, sizeof hsm);
    for (int h = 0; h < config.hsms; h++) {
      hsm[h].needs_sync = CK_TRUE;
    }
    load_journal();
    initialized = CK_TRUE;
    record_logout();
  }
  pthread_mutex_unlock(&sync_lock);
  return rv;
}

static CK_RV si_Finalize(CK_VOID_PTR reserved) {
  if (!initialized) {
    return CKR_CRYPTOKI_NOT_INITIALIZED;
  }
  pthread_mutex_lock(&sync_lock);
  for (int i = 0; i < MAX_SESSIONS; i++) {
    if (sessions[i].used) {
      close_session(&sessions[i], (CK_SESSION_HANDLE) i + 1);
    }
  }
  for (int h = 0; h < config.hsms; h++) {
    if (hsm[h].anchor != 0) {
      real->C_CloseSession(hsm[h].anchor);
    }
  }
  for (long r = 0; r < record_count; r++) {
    free_template(records[r].templ, records[r].count);
    free(records[r].param);
    free(records[r].blob);
  }
  free(records);
  free(objects);
  records = NULL;
  objects = NULL;
  record_count = record_capacity = object_count = object_capacity = 0;
  initialized = CK_FALSE;
  record_logout();
  memset(&config.hsm_pin, 0, sizeof config.hsm_pin);
  pthread_mutex_unlock(&sync_lock);
  return shim_finalize(reserved);
}

static CK_RV si_GetInfo(CK_INFO_PTR info) {
  if (!initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (info == NULL) return CKR_ARGUMENTS_BAD;
  memset(info, 0, sizeof *info);
  info->cryptokiVersion.major = 2;
  info->cryptokiVersion.minor = 40;
  pad_copy(info->manufacturerID, sizeof info->manufacturerID, "Keyhold");
  pad_copy(info->libraryDescription, sizeof info->libraryDescription, "AWS CloudHSM stand-in");
  info->libraryVersion.major = 5;
  return CKR_OK;
}

static CK_RV si_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
  (void) present;
  if (!initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (count == NULL) return CKR_ARGUMENTS_BAD;
  if (list != NULL) {
    if (*count < 1) {
      *count = 1;
      return CKR_BUFFER_TOO_SMALL;
    }
    list[0] = STANDIN_SLOT;
  }
  *count = 1;
  return CKR_OK;
}

static CK_RV si_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info) {
  if (!initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != STANDIN_SLOT) return CKR_SLOT_ID_INVALID;
  if (info == NULL) return CKR_ARGUMENTS_BAD;
  memset(info, 0, sizeof *info);
  pad_copy(info->slotDescription, sizeof info->slotDescription, "CloudHSM cluster stand-in");
  pad_copy(info->manufacturerID, sizeof info->manufacturerID, "Keyhold");
  info->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
  return CKR_OK;
}

static CK_RV si_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
  if (!initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != STANDIN_SLOT) return CKR_SLOT_ID_INVALID;
  if (info == NULL) return CKR_ARGUMENTS_BAD;
  memset(info, 0, sizeof *info);
  pad_copy(info->label, sizeof info->label, config.slot_label);
  pad_copy(info->manufacturerID, sizeof info->manufacturerID, "Keyhold");
  pad_copy(info->model, sizeof info->model, "CloudHSM stand-in");
  pad_copy(info->serialNumber, sizeof info->serialNumber, "1");
  info->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
  info->ulMaxSessionCount = info->ulMaxRwSessionCount = MAX_SESSIONS;
  info->ulMaxPinLen = 256;
  info->ulMinPinLen = 1;
  info->ulTotalPublicMemory = info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
  info->ulTotalPrivateMemory = info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
  /* The time, as SoftHSM2 gives it: clients (the IAIK wrapper) warn about a blank one. */
  char now[17];
  time_t t = time(NULL);
  struct tm utc;
  strftime(now, sizeof now, "%Y%m%d%H%M%S00", gmtime_r(&t, &utc));
  memcpy(info->utcTime, now, sizeof info->utcTime);
  info->flags |= CKF_CLOCK_ON_TOKEN;
  return CKR_OK;
}

/* The first answering HSM, -1 if none. */
static int first_up(void) {
  CK_BBOOL up[MAX_HSMS];
  refresh(up);
  for (int h = 0; h < config.hsms; h++) {
    if (up[h]) {
      return h;
    }
  }
  return -1;
}

/* The first answering HSM's mechanisms, and CKM_CLOUDHSM_AES_GCM. */
static CK_RV si_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count) {
  if (!initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != STANDIN_SLOT) return CKR_SLOT_ID_INVALID;
  if (count == NULL) return CKR_ARGUMENTS_BAD;
  int h = first_up();
  if (h < 0) return CKR_DEVICE_REMOVED;
  CK_ULONG n = 0;
  CK_RV rv = real->C_GetMechanismList(hsm[h].slot, NULL, &n);
  if (rv != CKR_OK) return rv;
  if (list == NULL) {
    *count = n + 1;
    return CKR_OK;
  }
  if (*count < n + 1) {
    *count = n + 1;
    return CKR_BUFFER_TOO_SMALL;
  }
  rv = real->C_GetMechanismList(hsm[h].slot, list, &n);
  if (rv == CKR_OK) {
    list[n] = CKM_CLOUDHSM_AES_GCM;
    *count = n + 1;
  }
  return rv;
}

static CK_RV si_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info) {
  if (!initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != STANDIN_SLOT) return CKR_SLOT_ID_INVALID;
  int h = first_up();
  if (h < 0) return CKR_DEVICE_REMOVED;
  if (type == CKM_CLOUDHSM_AES_GCM) {
    CK_RV rv = real->C_GetMechanismInfo(hsm[h].slot, CKM_AES_GCM, info);
    if (rv == CKR_OK) {
      info->flags &= CKF_ENCRYPT | CKF_DECRYPT | CKF_HW;
    }
    return rv;
  }
  return real->C_GetMechanismInfo(hsm[h].slot, type, info);
}

/* ---------- sessions and login ---------- */

static CK_RV si_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                            CK_SESSION_HANDLE_PTR out) {
  (void) app;
  (void) notify;
  if (!initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != STANDIN_SLOT) return CKR_SLOT_ID_INVALID;
  if (out == NULL) return CKR_ARGUMENTS_BAD;
  if (!(flags & CKF_SERIAL_SESSION)) return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
  /* SDK 5 has no read-only sessions, and says so with this code. */
  if (!(flags & CKF_RW_SESSION)) return CKR_FUNCTION_FAILED;
  CK_RV rv = CKR_SESSION_COUNT;
  pthread_mutex_lock(&mutex);
  for (int i = 0; i < MAX_SESSIONS; i++) {
    if (!sessions[i].used) {
      memset(&sessions[i], 0, sizeof sessions[i]);
      sessions[i].used = CK_TRUE;
      sessions[i].enc.hsm = sessions[i].dec.hsm = sessions[i].sign_hsm = -1;
      sessions[i].verify_hsm = sessions[i].digest_hsm = -1;
      *out = (CK_SESSION_HANDLE) i + 1;
      rv = CKR_OK;
      break;
    }
  }
  pthread_mutex_unlock(&mutex);
  return rv;
}

static CK_RV si_CloseSession(CK_SESSION_HANDLE handle) {
  SESSION(s, handle);
  close_session(s, handle);
  /* As PKCS#11 says: the application's last session closed logs it out. */
  CK_BBOOL any = CK_FALSE;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    any |= sessions[i].used;
  }
  if (!any) {
    record_logout();
  }
  return CKR_OK;
}

static CK_RV si_CloseAllSessions(CK_SLOT_ID slot) {
  if (!initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != STANDIN_SLOT) return CKR_SLOT_ID_INVALID;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    if (sessions[i].used) {
      close_session(&sessions[i], (CK_SESSION_HANDLE) i + 1);
    }
  }
  record_logout();
  return CKR_OK;
}

static CK_RV si_GetSessionInfo(CK_SESSION_HANDLE handle, CK_SESSION_INFO_PTR info) {
  SESSION(s, handle);
  if (info == NULL) return CKR_ARGUMENTS_BAD;
  memset(info, 0, sizeof *info);
  info->slotID = STANDIN_SLOT;
  info->state = logged_in ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION;
  info->flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
  return CKR_OK;
}

/* One crypto user of the users file. */
typedef struct {
  char name[128];
  char salt[65], hash[65];
  unsigned failures;
} user_t;

/* Reads STATE_DIR/users into users (at most max); returns how many, -1 if unreadable. */
static int read_users(user_t *users, int max) {
  FILE *file = fopen(STATE_DIR "/users", "r");
  if (file == NULL) {
    return -1;
  }
  int n = 0;
  while (n < max && fscanf(file, "%127s %64s %64s %u", users[n].name, users[n].salt, users[n].hash,
                           &users[n].failures) == 4) {
    n++;
  }
  fclose(file);
  return n;
}

/* Rewrites STATE_DIR/users whole (temporary file, then rename), so no reader sees half of it. */
static void write_users(const user_t *users, int n) {
  FILE *file = open_private(STATE_DIR "/users.tmp", O_TRUNC, "w");
  if (file == NULL) {
    log_line("cannot write %s/users.tmp: %s", STATE_DIR, strerror(errno));
    return;
  }
  for (int i = 0; i < n; i++) {
    fprintf(file, "%s %s %s %u\n", users[i].name, users[i].salt, users[i].hash, users[i].failures);
  }
  fflush(file);
  fsync(fileno(file));
  fclose(file);
  rename(STATE_DIR "/users.tmp", STATE_DIR "/users");
}

/* hex(SHA-256(salt || password)), computed by backing session bs (the stand-in links no crypto of its
 * own). */
static CK_RV password_hash(CK_SESSION_HANDLE bs, const char *salt_hex, const CK_BYTE *password, CK_ULONG len,
                           char out[65]) {
  CK_BYTE *salt;
  CK_ULONG salt_len;
  if (!from_hex(salt_hex, &salt, &salt_len)) {
    return CKR_GENERAL_ERROR;
  }
  CK_MECHANISM sha256 = {CKM_SHA256, NULL, 0};
  CK_BYTE digest[32];
  CK_ULONG digest_len = sizeof digest;
  CK_RV rv = real->C_DigestInit(bs, &sha256);
  if (rv == CKR_OK) rv = real->C_DigestUpdate(bs, salt, salt_len);
  if (rv == CKR_OK) rv = real->C_DigestUpdate(bs, (CK_BYTE_PTR) password, len);
  if (rv == CKR_OK) rv = real->C_DigestFinal(bs, digest, &digest_len);
  free(salt);
  if (rv == CKR_OK) {
    to_hex(digest, 32, out);
  }
  return rv;
}

/* Constant-time comparison of two hex hashes. */
static CK_BBOOL same_hash(const char *a, const char *b) {
  unsigned diff = strlen(a) != strlen(b);
  for (size_t i = 0; a[i] != '\0' && b[i] != '\0'; i++) {
    diff |= (unsigned) (a[i] ^ b[i]);
  }
  return diff == 0;
}

static CK_RV si_Login(CK_SESSION_HANDLE handle, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
  SESSION(s, handle);
  /* Only crypto users log in through PKCS#11; officers use the CloudHSM CLI. */
  if (type != CKU_USER) return CKR_USER_TYPE_INVALID;
  if (pin == NULL) return CKR_ARGUMENTS_BAD;
  if (logged_in) return CKR_USER_ALREADY_LOGGED_IN;
  const CK_UTF8CHAR *colon = memchr(pin, ':', len);
  if (colon == NULL || colon == pin || (size_t) (colon - pin) >= sizeof ((user_t *) 0)->name) {
    return CKR_PIN_INCORRECT;  /* not "user:password": no user to count a failure against */
  }
  char name[128];
  memcpy(name, pin, colon - pin);
  name[colon - pin] = '\0';
  CK_BBOOL up[MAX_HSMS];
  refresh(up);
  int h = -1;
  for (int i = 0; i < config.hsms && h < 0; i++) {
    if (up[i]) {
      h = i;
    }
  }
  if (h < 0) return CKR_DEVICE_REMOVED;
  CK_SESSION_HANDLE bs;
  CK_RV rv = session_on(s, h, &bs);
  if (rv != CKR_OK) return rv;

  /* Held from read to write, so that concurrent logins cannot lose a failure between them. */
  pthread_mutex_lock(&sync_lock);
  user_t users[64];
  int n = read_users(users, 64), u = -1;
  for (int i = 0; i < n; i++) {
    if (strcmp(users[i].name, name) == 0) {
      u = i;
    }
  }
  if (u < 0) {
    rv = CKR_PIN_INCORRECT;
  } else if (config.max_failed_logins > 0 && users[u].failures >= config.max_failed_logins) {
    rv = CKR_PIN_LOCKED;
    log_line("login of user '%s' refused: locked after %u failed logins", name, users[u].failures);
  } else {
    char hash[65];
    rv = password_hash(bs, users[u].salt, colon + 1, len - (colon + 1 - pin), hash);
    if (rv == CKR_OK) {
      CK_BBOOL right = same_hash(hash, users[u].hash);
      if (!right || users[u].failures != 0) {  /* rewritten only when the count changes */
        users[u].failures = right ? 0 : users[u].failures + 1;
        write_users(users, n);
      }
      if (!right) {
        rv = CKR_PIN_INCORRECT;
        log_line("login of user '%s' failed (%u in a row)", name, users[u].failures);
      }
    }
  }
  /* The HSMs are logged in with hsm_pin; the caller's password never reaches them. */
  for (int i = 0; rv == CKR_OK && i < config.hsms; i++) {
    CK_SESSION_HANDLE a;
    if (up[i]) {
      anchor_of(i, &a);
    }
  }
  pthread_mutex_unlock(&sync_lock);
  if (rv == CKR_OK) {
    record_login(name);
  }
  return rv;
}

static CK_RV si_Logout(CK_SESSION_HANDLE handle) {
  SESSION(s, handle);
  (void) s;
  LOGGED_IN();
  record_logout();  /* the HSMs stay logged in: they are the stand-in's, not the caller's */
  return CKR_OK;
}

/* ---------- objects ---------- */

/* Routes a use of key `key`: the first answering HSM that has it, after the availability check of a
 * token key. Writes the HSM, its object handle and s's backing session there. */
static CK_RV route_key(session_t *s, CK_OBJECT_HANDLE key, CK_RV invalid, int *h_out, CK_OBJECT_HANDLE *x,
                       CK_SESSION_HANDLE *bs) {
  CK_BBOOL up[MAX_HSMS];
  refresh(up);
  object_t o;
  if (!object_copy(key, &o)) return invalid;
  unsigned present = 0;
  int h = -1;
  for (int i = 0; i < config.hsms; i++) {
    if (up[i] && o.on[i] != 0) {
      present++;
      if (h < 0) {
        h = i;
      }
    }
  }
  if (o.token && config.quorum > 1 && present < config.quorum) {
    /* SDK 5's key availability check, with its log line; the code is the stand-in's choice. */
    log_line("Key %lu does not meet the availability requirements - The key must be available on at least "
             "%u HSMs before being used.", key, config.quorum);
    return CKR_FUNCTION_FAILED;
  }
  if (h < 0) return o.token ? CKR_DEVICE_REMOVED : invalid;
  *h_out = h;
  *x = o.on[h];
  return session_on(s, h, bs);
}

/* Makes token key `rec` on every answering HSM (rec.kind 'V': C_CreateObject; 'U': C_UnwrapKey with
 * the unwrapping key's handle on each); journals it if at least one HSM has it. Under sync_lock. */
static CK_RV make_token_key(record_t rec, long unwrapper_object, CK_OBJECT_HANDLE_PTR out) {
  CK_BBOOL up[MAX_HSMS];
  CK_OBJECT_HANDLE on[MAX_HSMS] = {0};
  CK_RV error = CKR_DEVICE_REMOVED;  /* what to answer if no HSM makes it */
  int made = 0;
  for (int h = 0; h < config.hsms; h++) {
    up[h] = hsm_up(h);
    CK_SESSION_HANDLE a;
    if (!up[h] || hsm[h].needs_sync || anchor_of(h, &a) != CKR_OK) {
      continue;  /* a returning HSM gets it at its sync */
    }
    CK_RV rv;
    if (rec.kind == 'V') {
      rv = real->C_CreateObject(a, rec.templ, rec.count, &on[h]);
    } else {
      object_t u;
      object_copy((CK_OBJECT_HANDLE) unwrapper_object + 1, &u);
      if (u.on[h] == 0) {
        continue;
      }
      CK_MECHANISM mech = {rec.mech, rec.param_len ? rec.param : NULL, rec.param_len};
      rv = real->C_UnwrapKey(a, &mech, u.on[h], rec.blob, rec.blob_len, rec.templ, rec.count, &on[h]);
    }
    if (rv == CKR_OK) {
      made++;
    } else {
      on[h] = 0;
      log_line("cannot make key on HSM '%s': 0x%lx", config.hsm[h], rv);
      if (made == 0 && !is_lost(rv)) {
        error = rv;
        break;  /* the request itself is wrong: every HSM would refuse it alike */
      }
    }
  }
  if (made == 0) {
    free_template(rec.templ, rec.count);
    free(rec.param);
    free(rec.blob);
    return error;
  }
  pthread_mutex_lock(&mutex);
  long o = add_record(rec);
  memcpy(objects[o].on, on, sizeof on);
  pthread_mutex_unlock(&mutex);
  journal_record(objects[o].record);
  if ((unsigned) made < config.quorum) {
    log_line("key %ld made on %d HSM(s) only: unusable until it is on %u", o + 1, made, config.quorum);
  }
  *out = (CK_OBJECT_HANDLE) o + 1;
  return CKR_OK;
}

/* A session object on the first answering HSM, through s's backing session: C_GenerateKey,
 * C_CreateObject or C_UnwrapKey (with unwrapping key `uk`) as `kind` says. */
static CK_RV make_session_object(session_t *s, CK_SESSION_HANDLE handle, char kind, CK_MECHANISM_PTR mech,
                                 CK_OBJECT_HANDLE uk, CK_BYTE_PTR blob, CK_ULONG blob_len,
                                 CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR out) {
  int h;
  CK_OBJECT_HANDLE x = 0, ux = 0;
  CK_SESSION_HANDLE bs;
  CK_RV rv;
  if (kind == 'U') {
    rv = route_key(s, uk, CKR_UNWRAPPING_KEY_HANDLE_INVALID, &h, &ux, &bs);
  } else {
    h = first_up();
    rv = h < 0 ? CKR_DEVICE_REMOVED : session_on(s, h, &bs);
  }
  if (rv != CKR_OK) return rv;
  if (kind == 'G') {
    rv = real->C_GenerateKey(bs, mech, templ, count, &x);
  } else if (kind == 'C') {
    rv = real->C_CreateObject(bs, templ, count, &x);
  } else {
    rv = real->C_UnwrapKey(bs, mech, ux, blob, blob_len, templ, count, &x);
  }
  if (rv != CKR_OK) return rv;
  pthread_mutex_lock(&mutex);
  long o = new_object();
  identify(&objects[o], templ, count);
  objects[o].on[h] = x;
  objects[o].owner = handle;
  pthread_mutex_unlock(&mutex);
  *out = (CK_OBJECT_HANDLE) o + 1;
  return CKR_OK;
}

static CK_RV si_CreateObject(CK_SESSION_HANDLE handle, CK_ATTRIBUTE_PTR templ, CK_ULONG count,
                             CK_OBJECT_HANDLE_PTR out) {
  SESSION(s, handle);
  LOGGED_IN();
  if (out == NULL || (templ == NULL && count > 0)) return CKR_ARGUMENTS_BAD;
  if (!bool_attr(templ, count, CKA_TOKEN, CK_FALSE)) {
    return make_session_object(s, handle, 'C', NULL, 0, NULL, 0, templ, count, out);
  }
  record_t rec;
  memset(&rec, 0, sizeof rec);
  rec.kind = 'V';
  rec.unwrapper = -1;
  CK_RV rv = copy_template(templ, count, &rec.templ);
  if (rv != CKR_OK) return rv;
  rec.count = count;
  CK_BBOOL up[MAX_HSMS];
  refresh(up);
  pthread_mutex_lock(&sync_lock);
  rv = make_token_key(rec, -1, out);
  pthread_mutex_unlock(&sync_lock);
  return rv;
}

static CK_RV si_GenerateKey(CK_SESSION_HANDLE handle, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR templ,
                            CK_ULONG count, CK_OBJECT_HANDLE_PTR out) {
  SESSION(s, handle);
  LOGGED_IN();
  if (mech == NULL || out == NULL || (templ == NULL && count > 0)) return CKR_ARGUMENTS_BAD;
  if (!bool_attr(templ, count, CKA_TOKEN, CK_FALSE)) {
    return make_session_object(s, handle, 'G', mech, 0, NULL, 0, templ, count, out);
  }
  /* A token key: one value drawn here, created on every HSM (see the top of this file). */
  CK_KEY_TYPE type;
  if (mech->mechanism == CKM_AES_KEY_GEN) {
    type = CKK_AES;
  } else if (mech->mechanism == CKM_GENERIC_SECRET_KEY_GEN) {
    type = CKK_GENERIC_SECRET;
  } else {
    return CKR_MECHANISM_INVALID;  /* token keys of other kinds: not modelled */
  }
  CK_ULONG len = ulong_attr(templ, count, CKA_VALUE_LEN, 0);
  if (type == CKK_AES ? len != 16 && len != 24 && len != 32 : len < 1 || len > 64) {
    return find_attr(templ, count, CKA_VALUE_LEN) == NULL ? CKR_TEMPLATE_INCOMPLETE : CKR_KEY_SIZE_RANGE;
  }
  CK_BBOOL up[MAX_HSMS];
  refresh(up);
  int h = -1;
  for (int i = 0; i < config.hsms && h < 0; i++) {
    h = up[i] ? i : -1;
  }
  if (h < 0) return CKR_DEVICE_REMOVED;
  CK_SESSION_HANDLE bs;
  CK_BYTE value[64];
  CK_RV rv = session_on(s, h, &bs);
  if (rv == CKR_OK) rv = real->C_GenerateRandom(bs, value, len);
  if (rv != CKR_OK) return rv;

  /* The caller's template without CKA_VALUE_LEN (C_CreateObject refuses it), with the value, class and
   * key type. */
  record_t rec;
  memset(&rec, 0, sizeof rec);
  rec.kind = 'V';
  rec.unwrapper = -1;
  rec.templ = calloc(count + 3, sizeof(CK_ATTRIBUTE));
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  for (CK_ULONG i = 0; i < count; i++) {
    if (templ[i].type == CKA_VALUE_LEN || templ[i].type == CKA_CLASS || templ[i].type == CKA_KEY_TYPE) {
      continue;
    }
    if (templ[i].type & CKF_ARRAY_ATTRIBUTE) {
      free_template(rec.templ, rec.count);
      return CKR_TEMPLATE_INCONSISTENT;
    }
    CK_ATTRIBUTE *a = &rec.templ[rec.count++];
    a->type = templ[i].type;
    a->ulValueLen = templ[i].ulValueLen;
    a->pValue = malloc(a->ulValueLen + 1);
    memcpy(a->pValue, templ[i].pValue, a->ulValueLen);
  }
  CK_ATTRIBUTE added[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type}, {CKA_VALUE, value, len}};
  for (int i = 0; i < 3; i++) {
    CK_ATTRIBUTE *a = &rec.templ[rec.count++];
    *a = added[i];
    a->pValue = malloc(added[i].ulValueLen);
    memcpy(a->pValue, added[i].pValue, added[i].ulValueLen);
  }
  memset(value, 0, sizeof value);
  pthread_mutex_lock(&sync_lock);
  rv = make_token_key(rec, -1, out);
  pthread_mutex_unlock(&sync_lock);
  return rv;
}

static CK_RV si_GenerateKeyPair(CK_SESSION_HANDLE handle, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pub_templ,
                                CK_ULONG pub_count, CK_ATTRIBUTE_PTR priv_templ, CK_ULONG priv_count,
                                CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv) {
  SESSION(s, handle);
  LOGGED_IN();
  if (pub == NULL || priv == NULL) return CKR_ARGUMENTS_BAD;
  if (bool_attr(pub_templ, pub_count, CKA_TOKEN, CK_FALSE) || bool_attr(priv_templ, priv_count, CKA_TOKEN, CK_FALSE)) {
    return CKR_TEMPLATE_INCONSISTENT;  /* token key pairs: not modelled (no value to copy) */
  }
  int h = first_up();
  CK_SESSION_HANDLE bs;
  CK_RV rv = h < 0 ? CKR_DEVICE_REMOVED : session_on(s, h, &bs);
  CK_OBJECT_HANDLE x_pub, x_priv;
  if (rv == CKR_OK) rv = real->C_GenerateKeyPair(bs, mech, pub_templ, pub_count, priv_templ, priv_count, &x_pub, &x_priv);
  if (rv != CKR_OK) return rv;
  pthread_mutex_lock(&mutex);
  long o = new_object();
  identify(&objects[o], pub_templ, pub_count);
  objects[o].cls = CKO_PUBLIC_KEY;
  objects[o].on[h] = x_pub;
  objects[o].owner = handle;
  long p = new_object();
  identify(&objects[p], priv_templ, priv_count);
  objects[p].cls = CKO_PRIVATE_KEY;
  objects[p].on[h] = x_priv;
  objects[p].owner = handle;
  pthread_mutex_unlock(&mutex);
  *pub = (CK_OBJECT_HANDLE) o + 1;
  *priv = (CK_OBJECT_HANDLE) p + 1;
  return CKR_OK;
}

static CK_RV si_UnwrapKey(CK_SESSION_HANDLE handle, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE uk, CK_BYTE_PTR blob,
                          CK_ULONG blob_len, CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR out) {
  SESSION(s, handle);
  LOGGED_IN();
  if (mech == NULL || blob == NULL || out == NULL) return CKR_ARGUMENTS_BAD;
  if (mech->mechanism == CKM_CLOUDHSM_AES_GCM) return CKR_MECHANISM_INVALID;  /* not modelled */
  if (!bool_attr(templ, count, CKA_TOKEN, CK_FALSE)) {
    return make_session_object(s, handle, 'U', mech, uk, blob, blob_len, templ, count, out);
  }
  /* A token key: the same unwrap on every HSM that has the unwrapping key. Its use is checked first. */
  int h;
  CK_OBJECT_HANDLE ux;
  CK_SESSION_HANDLE bs;
  CK_RV rv = route_key(s, uk, CKR_UNWRAPPING_KEY_HANDLE_INVALID, &h, &ux, &bs);
  if (rv != CKR_OK) return rv;
  object_t u;
  /* Journal lines are written under sync_lock, in record order: a record's number is its line's. */
  pthread_mutex_lock(&sync_lock);
  object_copy(uk, &u);
  if (u.record < 0 && u.token) {
    /* A key made outside the stand-in (a provisioned wrapping key): journal it as a key to be found,
     * never replayed, so that records can name it. */
    record_t found;
    memset(&found, 0, sizeof found);
    found.kind = 'F';
    found.unwrapper = -1;
    CK_BYTE_PTR label = u.label, id = u.id;
    CK_ATTRIBUTE ident[] = {{CKA_CLASS, &u.cls, sizeof u.cls}, {CKA_LABEL, label, u.label_len}, {CKA_ID, id, u.id_len}};
    copy_template(ident, 3, &found.templ);
    found.count = 3;
    pthread_mutex_lock(&mutex);
    if (records == NULL || record_count == record_capacity) {
      record_capacity = record_capacity == 0 ? 64 : 2 * record_capacity;
      records = realloc(records, record_capacity * sizeof(record_t));
    }
    records[record_count] = found;
    objects[uk - 1].record = record_count++;
    long r = objects[uk - 1].record;
    pthread_mutex_unlock(&mutex);
    journal_record(r);
    u.record = r;
  }
  pthread_mutex_unlock(&sync_lock);
  record_t rec;
  memset(&rec, 0, sizeof rec);
  rec.kind = 'U';
  rec.unwrapper = u.record;
  rec.mech = mech->mechanism;
  if (mech->ulParameterLen > 0) {
    rec.param = malloc(mech->ulParameterLen);
    memcpy(rec.param, mech->pParameter, mech->ulParameterLen);
    rec.param_len = mech->ulParameterLen;
  }
  rec.blob = malloc(blob_len);
  memcpy(rec.blob, blob, blob_len);
  rec.blob_len = blob_len;
  rv = copy_template(templ, count, &rec.templ);
  if (rv != CKR_OK) {
    free(rec.param);
    free(rec.blob);
    return rv;
  }
  rec.count = count;
  pthread_mutex_lock(&sync_lock);
  rv = make_token_key(rec, (long) uk - 1, out);
  pthread_mutex_unlock(&sync_lock);
  return rv;
}

static CK_RV si_DestroyObject(CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE object) {
  SESSION(s, handle);
  LOGGED_IN();
  object_t o;
  if (!object_copy(object, &o)) return CKR_OBJECT_HANDLE_INVALID;
  CK_BBOOL up[MAX_HSMS];
  refresh(up);
  CK_RV rv = CKR_OK;
  int destroyed = 0;
  pthread_mutex_lock(&sync_lock);
  for (int h = 0; h < config.hsms; h++) {
    CK_SESSION_HANDLE bs;
    if (o.on[h] == 0 || !up[h] || session_on(s, h, &bs) != CKR_OK) {
      continue;  /* an HSM that is away loses it at its sync */
    }
    CK_RV one = real->C_DestroyObject(bs, o.on[h]);
    if (one == CKR_OK || one == CKR_OBJECT_HANDLE_INVALID) {
      destroyed++;
    } else {
      rv = one;
    }
  }
  if (rv == CKR_OK || destroyed > 0) {
    pthread_mutex_lock(&mutex);
    objects[object - 1].used = CK_FALSE;
    long r = objects[object - 1].record;
    if (r >= 0) {
      records[r].deleted = CK_TRUE;
    }
    pthread_mutex_unlock(&mutex);
    if (r >= 0) {
      char line[64];
      snprintf(line, sizeof line, "del %ld", r);
      append_journal(line);
    }
    rv = CKR_OK;
  }
  pthread_mutex_unlock(&sync_lock);
  return rv;
}

static CK_RV si_GetAttributeValue(CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR templ,
                                  CK_ULONG count) {
  SESSION(s, handle);
  LOGGED_IN();
  object_t o;
  if (!object_copy(object, &o)) return CKR_OBJECT_HANDLE_INVALID;
  CK_BBOOL up[MAX_HSMS];
  refresh(up);
  for (int h = 0; h < config.hsms; h++) {
    CK_SESSION_HANDLE bs;
    if (o.on[h] != 0 && up[h] && session_on(s, h, &bs) == CKR_OK) {
      return real->C_GetAttributeValue(bs, o.on[h], templ, count);  /* reading is no use: no quorum */
    }
  }
  return o.token ? CKR_DEVICE_REMOVED : CKR_OBJECT_HANDLE_INVALID;
}

/* Searches every answering HSM and reports each cluster object once. */
static CK_RV si_FindObjectsInit(CK_SESSION_HANDLE handle, CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
  SESSION(s, handle);
  LOGGED_IN();
  if (s->finding) return CKR_OPERATION_ACTIVE;
  CK_BBOOL up[MAX_HSMS];
  if (refresh(up) == 0) return CKR_DEVICE_REMOVED;
  CK_ULONG capacity = 64;
  s->found = malloc(capacity * sizeof(CK_OBJECT_HANDLE));
  s->found_count = s->found_next = 0;
  /* Under sync_lock, as every write is: a SoftHSM2 search re-reads each object it passes and spoils one
   * being written, which a CloudHSM does not. */
  pthread_mutex_lock(&sync_lock);
  for (int h = 0; h < config.hsms; h++) {
    CK_SESSION_HANDLE bs;
    if (!up[h] || session_on(s, h, &bs) != CKR_OK || real->C_FindObjectsInit(bs, templ, count) != CKR_OK) {
      continue;
    }
    CK_OBJECT_HANDLE batch[64];
    CK_ULONG n;
    while (real->C_FindObjects(bs, batch, 64, &n) == CKR_OK && n > 0) {
      for (CK_ULONG k = 0; k < n; k++) {
        CK_OBJECT_HANDLE mine = handle_for(h, bs, batch[k]);
        CK_BBOOL seen = mine == 0;
        for (CK_ULONG j = 0; j < s->found_count && !seen; j++) {
          seen = s->found[j] == mine;
        }
        if (!seen) {
          if (s->found_count == capacity) {
            capacity *= 2;
            s->found = realloc(s->found, capacity * sizeof(CK_OBJECT_HANDLE));
          }
          s->found[s->found_count++] = mine;
        }
      }
    }
    real->C_FindObjectsFinal(bs);
  }
  pthread_mutex_unlock(&sync_lock);
  s->finding = CK_TRUE;
  return CKR_OK;
}

static CK_RV si_FindObjects(CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count) {
  SESSION(s, handle);
  if (!s->finding) return CKR_OPERATION_NOT_INITIALIZED;
  if (out == NULL || count == NULL) return CKR_ARGUMENTS_BAD;
  *count = 0;
  while (*count < max && s->found_next < s->found_count) {
    out[(*count)++] = s->found[s->found_next++];
  }
  return CKR_OK;
}

static CK_RV si_FindObjectsFinal(CK_SESSION_HANDLE handle) {
  SESSION(s, handle);
  if (!s->finding) return CKR_OPERATION_NOT_INITIALIZED;
  end_find(s);
  return CKR_OK;
}

/* ---------- encryption and decryption ---------- */

static CK_RV si_EncryptInit(CK_SESSION_HANDLE handle, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key) {
  SESSION(s, handle);
  LOGGED_IN();
  if (mech == NULL) return CKR_ARGUMENTS_BAD;
  if (s->enc.hsm >= 0) return CKR_OPERATION_ACTIVE;
  CK_GCM_PARAMS *gcm = mech->pParameter;
  CK_BBOOL is_gcm = mech->mechanism == CKM_AES_GCM || mech->mechanism == CKM_CLOUDHSM_AES_GCM;
  if (is_gcm && (gcm == NULL || mech->ulParameterLen != sizeof(CK_GCM_PARAMS))) return CKR_MECHANISM_PARAM_INVALID;
  if (mech->mechanism == CKM_CLOUDHSM_AES_GCM && gcm->pIv != NULL) {
    return CKR_MECHANISM_PARAM_INVALID;  /* the IV goes in front of the output, never in pIv */
  }
  if (mech->mechanism == CKM_AES_GCM) {
    if (gcm->pIv == NULL || gcm->ulIvLen != GCM_IV_LEN) return CKR_MECHANISM_PARAM_INVALID;
    if (config.refuse_caller_iv) {
      CK_BYTE any = 0;
      for (int i = 0; i < GCM_IV_LEN; i++) {
        any |= gcm->pIv[i];
      }
      if (any != 0) return CKR_MECHANISM_PARAM_INVALID;  /* a caller's own IV */
    }
  }
  int h;
  CK_OBJECT_HANDLE x;
  CK_SESSION_HANDLE bs;
  CK_RV rv = route_key(s, key, CKR_KEY_HANDLE_INVALID, &h, &x, &bs);
  if (rv != CKR_OK) return rv;
  if (!is_gcm) {
    rv = real->C_EncryptInit(bs, mech, x);
    if (rv == CKR_OK) {
      s->enc.hsm = h;
      s->enc.gcm = GCM_NONE;
    }
    return rv;
  }
  if (mech->mechanism == CKM_CLOUDHSM_AES_GCM) {
    hold_vendor_gcm(&s->enc, h, x, gcm);
    return CKR_OK;
  }
  /* CKM_AES_GCM: the HSM draws the IV. The caller's buffer is zeroized first, so that a failed init
   * never leaves the caller's own IV looking like the token's, then gets the IV. */
  memset(gcm->pIv, 0, GCM_IV_LEN);
  CK_BYTE iv[GCM_IV_LEN];
  rv = real->C_GenerateRandom(bs, iv, GCM_IV_LEN);
  if (rv != CKR_OK) return rv;
  CK_GCM_PARAMS params = *gcm;
  params.pIv = iv;
  params.ulIvBits = 8 * GCM_IV_LEN;
  CK_MECHANISM plain = {CKM_AES_GCM, &params, sizeof params};
  rv = real->C_EncryptInit(bs, &plain, x);
  if (rv != CKR_OK) return rv;
  memcpy(gcm->pIv, iv, GCM_IV_LEN);  /* written back: the caller keeps it for decryption */
  s->enc.hsm = h;
  s->enc.gcm = GCM_PLAIN;
  return CKR_OK;
}

/* CKM_CLOUDHSM_AES_GCM encryption: draws the IV, runs CKM_AES_GCM with it, prefixes it. */
static CK_RV vendor_gcm_encrypt(session_t *s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                                CK_ULONG_PTR out_len) {
  CK_ULONG needed = GCM_IV_LEN + in_len + s->enc.tag_bits / 8;
  if (out == NULL) {
    *out_len = needed;
    return CKR_OK;
  }
  if (*out_len < needed) {
    *out_len = needed;
    return CKR_BUFFER_TOO_SMALL;  /* the operation stays active, as PKCS#11 says */
  }
  CK_SESSION_HANDLE bs = s->on[s->enc.hsm];
  CK_BYTE iv[GCM_IV_LEN];
  CK_RV rv = real->C_GenerateRandom(bs, iv, GCM_IV_LEN);
  CK_GCM_PARAMS params = {iv, GCM_IV_LEN, 8 * GCM_IV_LEN, s->enc.aad_len ? s->enc.aad : NULL, s->enc.aad_len,
                          s->enc.tag_bits};
  CK_MECHANISM plain = {CKM_AES_GCM, &params, sizeof params};
  if (rv == CKR_OK) rv = real->C_EncryptInit(bs, &plain, s->enc.key);
  if (rv == CKR_OK) {
    CK_ULONG n = *out_len - GCM_IV_LEN;
    rv = real->C_Encrypt(bs, in, in_len, out + GCM_IV_LEN, &n);
    if (rv == CKR_OK) {
      memcpy(out, iv, GCM_IV_LEN);
      *out_len = n + GCM_IV_LEN;
    }
  }
  end_cipher(&s->enc);
  return rv;
}

static CK_RV si_Encrypt(CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                        CK_ULONG_PTR out_len) {
  SESSION(s, handle);
  if (s->enc.hsm < 0) return CKR_OPERATION_NOT_INITIALIZED;
  if (out_len == NULL) return CKR_ARGUMENTS_BAD;
  if (s->enc.gcm == GCM_CLOUDHSM) {
    return vendor_gcm_encrypt(s, in, in_len, out, out_len);
  }
  CK_RV rv = real->C_Encrypt(s->on[s->enc.hsm], in, in_len, out, out_len);
  if (ends_operation(rv, out)) end_cipher(&s->enc);
  return rv;
}

static CK_RV si_EncryptUpdate(CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                              CK_ULONG_PTR out_len) {
  SESSION(s, handle);
  if (s->enc.hsm < 0) return CKR_OPERATION_NOT_INITIALIZED;
  if (s->enc.gcm == GCM_CLOUDHSM) {
    end_cipher(&s->enc);  /* single-part only; no real operation was started */
    return CKR_MECHANISM_INVALID;
  }
  CK_RV rv = real->C_EncryptUpdate(s->on[s->enc.hsm], in, in_len, out, out_len);
  if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) end_cipher(&s->enc);
  return rv;
}

static CK_RV si_EncryptFinal(CK_SESSION_HANDLE handle, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
  SESSION(s, handle);
  if (s->enc.hsm < 0) return CKR_OPERATION_NOT_INITIALIZED;
  if (s->enc.gcm == GCM_CLOUDHSM) {
    end_cipher(&s->enc);
    return CKR_MECHANISM_INVALID;
  }
  CK_RV rv = real->C_EncryptFinal(s->on[s->enc.hsm], out, out_len);
  if (ends_operation(rv, out)) end_cipher(&s->enc);
  return rv;
}

/* A failed GCM tag: SoftHSM2 2.6.1 says CKR_GENERAL_ERROR; the stand-in says what it is set to. */
static CK_RV bad_tag(CK_RV rv) {
  return rv == CKR_GENERAL_ERROR || rv == CKR_ENCRYPTED_DATA_INVALID || rv == 0x35UL ? config.bad_tag_rv : rv;
}

static CK_RV si_DecryptInit(CK_SESSION_HANDLE handle, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key) {
  SESSION(s, handle);
  LOGGED_IN();
  if (mech == NULL) return CKR_ARGUMENTS_BAD;
  if (s->dec.hsm >= 0) return CKR_OPERATION_ACTIVE;
  CK_GCM_PARAMS *gcm = mech->pParameter;
  CK_BBOOL is_gcm = mech->mechanism == CKM_AES_GCM || mech->mechanism == CKM_CLOUDHSM_AES_GCM;
  if (is_gcm && (gcm == NULL || mech->ulParameterLen != sizeof(CK_GCM_PARAMS))) return CKR_MECHANISM_PARAM_INVALID;
  if (mech->mechanism == CKM_CLOUDHSM_AES_GCM && gcm->pIv != NULL) return CKR_MECHANISM_PARAM_INVALID;
  int h;
  CK_OBJECT_HANDLE x;
  CK_SESSION_HANDLE bs;
  CK_RV rv = route_key(s, key, CKR_KEY_HANDLE_INVALID, &h, &x, &bs);
  if (rv != CKR_OK) return rv;
  if (mech->mechanism != CKM_CLOUDHSM_AES_GCM) {
    rv = real->C_DecryptInit(bs, mech, x);
    if (rv == CKR_OK) {
      s->dec.hsm = h;
      s->dec.gcm = mech->mechanism == CKM_AES_GCM ? GCM_PLAIN : GCM_NONE;
    }
    return rv;
  }
  hold_vendor_gcm(&s->dec, h, x, gcm);  /* the IV is in C_Decrypt's input: the real init waits for it */
  return CKR_OK;
}

static CK_RV si_Decrypt(CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                        CK_ULONG_PTR out_len) {
  SESSION(s, handle);
  if (s->dec.hsm < 0) return CKR_OPERATION_NOT_INITIALIZED;
  if (out_len == NULL || in == NULL) return CKR_ARGUMENTS_BAD;
  CK_SESSION_HANDLE bs = s->on[s->dec.hsm];
  if (s->dec.gcm == GCM_PLAIN) {
    CK_RV rv = real->C_Decrypt(bs, in, in_len, out, out_len);
    if (ends_operation(rv, out)) end_cipher(&s->dec);
    return bad_tag(rv);
  }
  if (s->dec.gcm == GCM_NONE) {
    CK_RV rv = real->C_Decrypt(bs, in, in_len, out, out_len);
    if (ends_operation(rv, out)) end_cipher(&s->dec);
    return rv;
  }
  CK_ULONG tag = s->dec.tag_bits / 8;
  if (in_len < GCM_IV_LEN + tag) {
    end_cipher(&s->dec);
    return config.bad_tag_rv == CKR_GENERAL_ERROR ? CKR_GENERAL_ERROR : CKR_ENCRYPTED_DATA_LEN_RANGE;
  }
  CK_ULONG plain_len = in_len - GCM_IV_LEN - tag;
  if (out == NULL) {
    *out_len = plain_len;
    return CKR_OK;
  }
  if (*out_len < plain_len) {
    *out_len = plain_len;
    return CKR_BUFFER_TOO_SMALL;
  }
  CK_GCM_PARAMS params = {in, GCM_IV_LEN, 8 * GCM_IV_LEN, s->dec.aad_len ? s->dec.aad : NULL, s->dec.aad_len,
                          s->dec.tag_bits};
  CK_MECHANISM plain = {CKM_AES_GCM, &params, sizeof params};
  CK_RV rv = real->C_DecryptInit(bs, &plain, s->dec.key);
  if (rv == CKR_OK) {
    /* SoftHSM2 wants room for the whole input. */
    CK_ULONG n = in_len - GCM_IV_LEN;
    CK_BYTE *buffer = malloc(n + 1);
    rv = bad_tag(real->C_Decrypt(bs, in + GCM_IV_LEN, in_len - GCM_IV_LEN, buffer, &n));
    if (rv == CKR_OK) {
      memcpy(out, buffer, n);
      *out_len = n;
    }
    memset(buffer, 0, in_len - GCM_IV_LEN);
    free(buffer);
  }
  end_cipher(&s->dec);
  return rv;
}

static CK_RV si_DecryptUpdate(CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                              CK_ULONG_PTR out_len) {
  SESSION(s, handle);
  if (s->dec.hsm < 0) return CKR_OPERATION_NOT_INITIALIZED;
  if (s->dec.gcm == GCM_CLOUDHSM) {
    end_cipher(&s->dec);
    return CKR_MECHANISM_INVALID;
  }
  CK_RV rv = real->C_DecryptUpdate(s->on[s->dec.hsm], in, in_len, out, out_len);
  if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) end_cipher(&s->dec);
  return s->dec.gcm == GCM_PLAIN ? bad_tag(rv) : rv;
}

static CK_RV si_DecryptFinal(CK_SESSION_HANDLE handle, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
  SESSION(s, handle);
  if (s->dec.hsm < 0) return CKR_OPERATION_NOT_INITIALIZED;
  if (s->dec.gcm == GCM_CLOUDHSM) {
    end_cipher(&s->dec);
    return CKR_MECHANISM_INVALID;
  }
  enum gcm_kind kind = s->dec.gcm;
  CK_RV rv = real->C_DecryptFinal(s->on[s->dec.hsm], out, out_len);
  if (ends_operation(rv, out)) end_cipher(&s->dec);
  return kind == GCM_PLAIN ? bad_tag(rv) : rv;
}

/* ---------- signing, verifying, digesting: routed to one HSM, as the library does ---------- */

/* Routes C_<op>Init for key to an HSM and records it in s->field. */
#define KEY_INIT(op, field)                                                                    \
  static CK_RV si_##op##Init(CK_SESSION_HANDLE handle, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key) { \
    SESSION(s, handle);                                                                        \
    LOGGED_IN();                                                                               \
    if (s->field >= 0) return CKR_OPERATION_ACTIVE;                                            \
    int h;                                                                                     \
    CK_OBJECT_HANDLE x;                                                                        \
    CK_SESSION_HANDLE bs;                                                                      \
    CK_RV rv = route_key(s, key, CKR_KEY_HANDLE_INVALID, &h, &x, &bs);                         \
    if (rv == CKR_OK) rv = real->C_##op##Init(bs, mech, x);                                    \
    if (rv == CKR_OK) s->field = h;                                                            \
    return rv;                                                                                 \
  }
KEY_INIT(Sign, sign_hsm)
KEY_INIT(Verify, verify_hsm)

/* Forwards a call of an active operation to its HSM; the operation ends unless the call was a size
 * query or too small a buffer, or (updates) went well. */
#define OP_CALL(name, field, params, args, ends)                                                \
  static CK_RV si_##name params {                                                              \
    SESSION(s, handle);                                                                        \
    if (s->field < 0) return CKR_OPERATION_NOT_INITIALIZED;                                    \
    CK_SESSION_HANDLE bs = s->on[s->field];                                                    \
    CK_RV rv = real->C_##name args;                                                            \
    if (ends) s->field = -1;                                                                   \
    return rv;                                                                                 \
  }
#define KEEPS_ON_QUERY(out) (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && (out) == NULL))
OP_CALL(Sign, sign_hsm, (CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
        (bs, in, in_len, out, out_len), !KEEPS_ON_QUERY(out))
OP_CALL(SignUpdate, sign_hsm, (CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len), (bs, in, in_len), rv != CKR_OK)
OP_CALL(SignFinal, sign_hsm, (CK_SESSION_HANDLE handle, CK_BYTE_PTR out, CK_ULONG_PTR out_len), (bs, out, out_len),
        !KEEPS_ON_QUERY(out))
OP_CALL(Verify, verify_hsm, (CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG sig_len),
        (bs, in, in_len, sig, sig_len), 1)
OP_CALL(VerifyUpdate, verify_hsm, (CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len), (bs, in, in_len), rv != CKR_OK)
OP_CALL(VerifyFinal, verify_hsm, (CK_SESSION_HANDLE handle, CK_BYTE_PTR sig, CK_ULONG sig_len), (bs, sig, sig_len), 1)
OP_CALL(Digest, digest_hsm, (CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len),
        (bs, in, in_len, out, out_len), !KEEPS_ON_QUERY(out))
OP_CALL(DigestUpdate, digest_hsm, (CK_SESSION_HANDLE handle, CK_BYTE_PTR in, CK_ULONG in_len), (bs, in, in_len), rv != CKR_OK)
OP_CALL(DigestFinal, digest_hsm, (CK_SESSION_HANDLE handle, CK_BYTE_PTR out, CK_ULONG_PTR out_len), (bs, out, out_len),
        !KEEPS_ON_QUERY(out))

static CK_RV si_DigestInit(CK_SESSION_HANDLE handle, CK_MECHANISM_PTR mech) {
  SESSION(s, handle);
  if (s->digest_hsm >= 0) return CKR_OPERATION_ACTIVE;
  int h = first_up();
  CK_SESSION_HANDLE bs;
  CK_RV rv = h < 0 ? CKR_DEVICE_REMOVED : session_on(s, h, &bs);
  if (rv == CKR_OK) rv = real->C_DigestInit(bs, mech);
  if (rv == CKR_OK) s->digest_hsm = h;
  return rv;
}

static CK_RV si_GenerateRandom(CK_SESSION_HANDLE handle, CK_BYTE_PTR out, CK_ULONG len) {
  SESSION(s, handle);
  int h = first_up();
  CK_SESSION_HANDLE bs;
  CK_RV rv = h < 0 ? CKR_DEVICE_REMOVED : session_on(s, h, &bs);
  return rv == CKR_OK ? real->C_GenerateRandom(bs, out, len) : rv;
}

/* Wrapping: both keys must be on the HSM the wrapping key routes to. */
static CK_RV si_WrapKey(CK_SESSION_HANDLE handle, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
                        CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
  SESSION(s, handle);
  LOGGED_IN();
  if (mech != NULL && mech->mechanism == CKM_CLOUDHSM_AES_GCM) return CKR_MECHANISM_INVALID;  /* not modelled */
  int h;
  CK_OBJECT_HANDLE wx;
  CK_SESSION_HANDLE bs;
  CK_RV rv = route_key(s, wrapping, CKR_WRAPPING_KEY_HANDLE_INVALID, &h, &wx, &bs);
  if (rv != CKR_OK) return rv;
  object_t k;
  if (!object_copy(key, &k) || k.on[h] == 0) return CKR_KEY_HANDLE_INVALID;
  return real->C_WrapKey(bs, mech, wx, k.on[h], out, out_len);
}

static CK_RV si_DeriveKey(CK_SESSION_HANDLE handle, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR templ,
                          CK_ULONG count, CK_OBJECT_HANDLE_PTR out) {
  SESSION(s, handle);
  LOGGED_IN();
  if (out == NULL) return CKR_ARGUMENTS_BAD;
  if (bool_attr(templ, count, CKA_TOKEN, CK_FALSE)) return CKR_TEMPLATE_INCONSISTENT;  /* not modelled */
  int h;
  CK_OBJECT_HANDLE bx, x;
  CK_SESSION_HANDLE bs;
  CK_RV rv = route_key(s, base, CKR_KEY_HANDLE_INVALID, &h, &bx, &bs);
  if (rv == CKR_OK) rv = real->C_DeriveKey(bs, mech, bx, templ, count, &x);
  if (rv != CKR_OK) return rv;
  pthread_mutex_lock(&mutex);
  long o = new_object();
  identify(&objects[o], templ, count);
  objects[o].on[h] = x;
  objects[o].owner = handle;
  pthread_mutex_unlock(&mutex);
  *out = (CK_OBJECT_HANDLE) o + 1;
  return CKR_OK;
}

/* ---------- what CloudHSM lacks: missing_function_rv, whatever the arguments ---------- */

#define MISSING(name, params)                  \
  static CK_RV si_##name params {              \
    return initialized ? config.missing_function_rv : CKR_CRYPTOKI_NOT_INITIALIZED; \
  }
MISSING(InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d))
MISSING(InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c))
MISSING(SetPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d, CK_ULONG e))
MISSING(GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
MISSING(SetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e))
MISSING(CopyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e))
MISSING(GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ULONG_PTR c))
MISSING(SetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d))
MISSING(DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b))
MISSING(SignRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
MISSING(SignRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
MISSING(VerifyRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
MISSING(VerifyRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
MISSING(DigestEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
MISSING(DecryptDigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
MISSING(SignEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
MISSING(DecryptVerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
MISSING(SeedRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
MISSING(GetFunctionStatus, (CK_SESSION_HANDLE a))
MISSING(CancelFunction, (CK_SESSION_HANDLE a))
MISSING(WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c))

/* Every entry is the stand-in's: nothing reaches the backing library but through the code above. */
static void replace_entries(void) {
  memset(&shim, 0, sizeof shim);
  shim.version.major = 2;
  shim.version.minor = 40;
#define SET(name) shim.C_##name = si_##name;
  SET(Initialize) SET(Finalize) SET(GetInfo) SET(GetSlotList) SET(GetSlotInfo) SET(GetTokenInfo)
  SET(GetMechanismList) SET(GetMechanismInfo) SET(InitToken) SET(InitPIN) SET(SetPIN) SET(OpenSession)
  SET(CloseSession) SET(CloseAllSessions) SET(GetSessionInfo) SET(GetOperationState) SET(SetOperationState)
  SET(Login) SET(Logout) SET(CreateObject) SET(CopyObject) SET(DestroyObject) SET(GetObjectSize)
  SET(GetAttributeValue) SET(SetAttributeValue) SET(FindObjectsInit) SET(FindObjects) SET(FindObjectsFinal)
  SET(EncryptInit) SET(Encrypt) SET(EncryptUpdate) SET(EncryptFinal) SET(DecryptInit) SET(Decrypt)
  SET(DecryptUpdate) SET(DecryptFinal) SET(DigestInit) SET(Digest) SET(DigestUpdate) SET(DigestKey)
  SET(DigestFinal) SET(SignInit) SET(Sign) SET(SignUpdate) SET(SignFinal) SET(SignRecoverInit)
  SET(SignRecover) SET(VerifyInit) SET(Verify) SET(VerifyUpdate) SET(VerifyFinal) SET(VerifyRecoverInit)
  SET(VerifyRecover) SET(DigestEncryptUpdate) SET(DecryptDigestUpdate) SET(SignEncryptUpdate)
  SET(DecryptVerifyUpdate) SET(GenerateKey) SET(GenerateKeyPair) SET(WrapKey) SET(UnwrapKey) SET(DeriveKey)
  SET(SeedRandom) SET(GenerateRandom) SET(GetFunctionStatus) SET(CancelFunction) SET(WaitForSlotEvent)
#undef SET
  shim.C_GetFunctionList = C_GetFunctionList;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  return forward(list, "cloudhsm-standin");
}
