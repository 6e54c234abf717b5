/*
 * keyhold-bench's raw C route: AES-256-GCM straight through a PKCS#11 library, with nothing between
 * the caller and the token but the library itself. Its rate is the token's own limit on this machine,
 * which every other route is measured against.
 *
 *   raw-pkcs11 LIBRARY TOKEN_LABEL KEY_LABEL IV_MODE
 *
 * IV_MODE is "caller" (CKM_AES_GCM with a fresh 12-byte IV per operation: a 4-byte prefix per thread,
 * then a 64-bit count) or "token" (AWS CloudHSM's CKM_CLOUDHSM_AES_GCM, whose IV the HSM draws and
 * writes in front of the ciphertext, as Keyhold's adapter drives it under that profile).
 *
 * Standard input carries the PIN on its first line, never the command line or the environment, then
 * one command per line; each gets one line on standard output:
 *
 *   (after the PIN)                   ready | error MESSAGE
 *   encrypt|decrypt BYTES THREADS MS  ok OPS ELAPSED_NS CPU_NS VALUE:COUNT ... | error MESSAGE
 *
 * A command runs THREADS threads, one session each, in a closed loop for MS milliseconds; OPS
 * operations completed, ELAPSED_NS from the start to the last return, CPU_NS the process's CPU time
 * meanwhile, then the latency histogram in nanoseconds (buckets 1.6% wide, each given by its middle).
 * An operation is C_EncryptInit + C_Encrypt of BYTES bytes, or C_DecryptInit + C_Decrypt of one
 * ciphertext of BYTES bytes made before the clock starts. The end of input logs out and exits.
 *
 * Build: gcc -O2 -I/usr/include/softhsm raw-pkcs11.c -o raw-pkcs11 -ldl -lpthread
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* SoftHSM2's header (p11-kit's) defines the platform macros itself and has the standard names. */
#include <pkcs11.h>

#define CKM_CLOUDHSM_AES_GCM (CKM_VENDOR_DEFINED | CKM_AES_GCM)
#define IV_BYTES 12
#define TAG_BYTES 16
#define MAX_THREADS 256
#define MAX_PAYLOAD (64 * 1024 * 1024)
/* Values under 2^SUB_BITS+1 get a bucket each; above, each power of two gets 2^SUB_BITS buckets. */
#define SUB_BITS 6
#define SUB_COUNT (1 << SUB_BITS)
#define BUCKETS ((64 - SUB_BITS) * SUB_COUNT + 2 * SUB_COUNT)
/* Lets every thread reach the start line before the clock starts. */
#define START_DELAY_NS 50000000LL

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE key;
static int token_picks_iv;
static CK_SESSION_HANDLE sessions[MAX_THREADS]; /* opened as the first command that needs them comes */
static int open_sessions;
/* Per session: IVs counted up across commands, so none repeats under the key while the process lives. */
static uint64_t iv_counts[MAX_THREADS + 1];
static uint32_t iv_prefix_base;

typedef struct {
  int index;
  int decrypt;
  CK_ULONG payload_bytes;
  CK_BYTE_PTR input;        /* the plaintext, or the ciphertext to decrypt */
  CK_ULONG input_bytes;
  const CK_BYTE *decrypt_iv;  /* the ciphertext's IV, with a caller's IV */
  long long start_ns, end_ns;
  /* results */
  uint64_t ops;
  long long last_return_ns;
  uint64_t *histogram;
  CK_RV failure;
  const char *failed_call;
} worker;

static long long now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int bucket_of(uint64_t value) {
  if (value < 2 * SUB_COUNT) {
    return (int) value;
  }
  int top = 63 - __builtin_clzll(value);
  int shift = top - SUB_BITS;
  return (shift * SUB_COUNT) + (int) (value >> shift);
}

/* The middle of a bucket: the value a latency in it is reported as. */
static uint64_t bucket_value(int bucket) {
  if (bucket < 2 * SUB_COUNT) {
    return (uint64_t) bucket;
  }
  int shift = bucket / SUB_COUNT - 1;
  uint64_t low = (uint64_t) (bucket - shift * SUB_COUNT) << shift;
  return low + ((1ULL << shift) >> 1);
}

static const char *rv_name(CK_RV rv) {
  switch (rv) {
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_ENCRYPTED_DATA_INVALID: return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    default: return NULL;
  }
}

static void print_error(const char *call, CK_RV rv) {
  const char *name = rv_name(rv);
  if (name != NULL) {
    printf("error %s returned %s\n", call, name);
  } else {
    printf("error %s returned 0x%08lx\n", call, (unsigned long) rv);
  }
  fflush(stdout);
}

/* The mechanism of one operation; iv is the caller's IV, ignored when the token picks it. */
static CK_MECHANISM gcm(CK_GCM_PARAMS *params, CK_BYTE_PTR iv) {
  memset(params, 0, sizeof *params);
  params->ulTagBits = TAG_BYTES * 8;
  if (!token_picks_iv) {
    params->pIv = iv;
    params->ulIvLen = IV_BYTES;
    params->ulIvBits = IV_BYTES * 8;
  }
  CK_MECHANISM mechanism = {token_picks_iv ? CKM_CLOUDHSM_AES_GCM : CKM_AES_GCM, params, sizeof *params};
  return mechanism;
}

static CK_RV encrypt(CK_SESSION_HANDLE session, CK_BYTE_PTR iv, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                     CK_ULONG out_capacity, CK_ULONG *out_len, const char **call) {
  CK_GCM_PARAMS params;
  CK_MECHANISM mechanism = gcm(&params, iv);
  *call = "C_EncryptInit";
  CK_RV rv = p11->C_EncryptInit(session, &mechanism, key);
  if (rv != CKR_OK) {
    return rv;
  }
  *call = "C_Encrypt";
  *out_len = out_capacity;
  return p11->C_Encrypt(session, in, in_len, out, out_len);
}

static CK_RV decrypt(CK_SESSION_HANDLE session, const CK_BYTE *iv, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                     CK_ULONG out_capacity, const char **call) {
  CK_GCM_PARAMS params;
  CK_MECHANISM mechanism = gcm(&params, (CK_BYTE_PTR) iv);
  *call = "C_DecryptInit";
  CK_RV rv = p11->C_DecryptInit(session, &mechanism, key);
  if (rv != CKR_OK) {
    return rv;
  }
  *call = "C_Decrypt";
  CK_ULONG out_len = out_capacity;
  return p11->C_Decrypt(session, in, in_len, out, &out_len);
}

/* The next caller's IV of a thread: its prefix, then a count, so no IV repeats under the key. */
static void next_iv(CK_BYTE iv[IV_BYTES], uint32_t prefix, uint64_t *count) {
  (*count)++;
  memcpy(iv, &prefix, 4);
  memcpy(iv + 4, count, 8);
}

static void sleep_until(long long ns) {
  struct timespec t = {ns / 1000000000LL, ns % 1000000000LL};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {
  }
}

static void *work(void *arg) {
  worker *w = arg;
  CK_SESSION_HANDLE session = sessions[w->index];
  CK_ULONG out_capacity = w->payload_bytes + IV_BYTES + TAG_BYTES;
  CK_BYTE_PTR out = malloc(out_capacity);
  CK_BYTE iv[IV_BYTES];
  uint32_t prefix = iv_prefix_base + (uint32_t) w->index;
  CK_ULONG out_len;
  sleep_until(w->start_ns);
  w->last_return_ns = w->start_ns;
  for (long long began = now_ns(CLOCK_MONOTONIC); began < w->end_ns; began = now_ns(CLOCK_MONOTONIC)) {
    CK_RV rv;
    if (w->decrypt) {
      rv = decrypt(session, w->decrypt_iv, w->input, w->input_bytes, out, out_capacity, &w->failed_call);
    } else {
      next_iv(iv, prefix, &iv_counts[w->index]);
      rv = encrypt(session, iv, w->input, w->input_bytes, out, out_capacity, &out_len, &w->failed_call);
    }
    long long returned = now_ns(CLOCK_MONOTONIC);
    if (rv != CKR_OK) {
      w->failure = rv;
      break;
    }
    w->ops++;
    w->histogram[bucket_of((uint64_t) (returned - began))]++;
    w->last_return_ns = returned;
  }
  free(out);
  return NULL;
}

static CK_RV open_sessions_up_to(int threads) {
  for (; open_sessions < threads; open_sessions++) {
    CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sessions[open_sessions]);
    if (rv != CKR_OK) {
      return rv;
    }
  }
  return CKR_OK;
}

static void run(const char *operation, long payload_bytes, int threads, long millis) {
  int decrypting = strcmp(operation, "decrypt") == 0;
  if ((!decrypting && strcmp(operation, "encrypt") != 0) || payload_bytes < 1 || payload_bytes > MAX_PAYLOAD
      || threads < 1 || threads > MAX_THREADS || millis < 1) {
    printf("error bad command: %s %ld %d %ld\n", operation, payload_bytes, threads, millis);
    fflush(stdout);
    return;
  }
  CK_RV rv = open_sessions_up_to(threads);
  if (rv != CKR_OK) {
    print_error("C_OpenSession", rv);
    return;
  }
  CK_BYTE_PTR plaintext = malloc(payload_bytes);
  memset(plaintext, 0x5a, payload_bytes);
  CK_BYTE_PTR input = plaintext;
  CK_ULONG input_bytes = payload_bytes;
  CK_BYTE iv[IV_BYTES];
  CK_BYTE_PTR ciphertext = NULL;
  if (decrypting) {
    /* One ciphertext, decrypted again and again: the tag is checked on every call all the same. */
    next_iv(iv, iv_prefix_base + MAX_THREADS, &iv_counts[MAX_THREADS]);
    CK_ULONG capacity = payload_bytes + IV_BYTES + TAG_BYTES;
    ciphertext = malloc(capacity);
    const char *call;
    rv = encrypt(sessions[0], iv, plaintext, payload_bytes, ciphertext, capacity, &input_bytes, &call);
    if (rv != CKR_OK) {
      print_error(call, rv);
      free(ciphertext);
      free(plaintext);
      return;
    }
    input = ciphertext;
  }
  worker *workers = calloc(threads, sizeof *workers);
  pthread_t *ids = calloc(threads, sizeof *ids);
  long long cpu_before = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  long long start = now_ns(CLOCK_MONOTONIC) + START_DELAY_NS;
  for (int i = 0; i < threads; i++) {
    workers[i] = (worker) {.index = i, .decrypt = decrypting, .payload_bytes = payload_bytes, .input = input,
                           .input_bytes = input_bytes, .decrypt_iv = iv, .start_ns = start,
                           .end_ns = start + millis * 1000000LL, .histogram = calloc(BUCKETS, sizeof(uint64_t))};
    pthread_create(&ids[i], NULL, work, &workers[i]);
  }
  uint64_t ops = 0;
  long long last_return = start;
  CK_RV failure = CKR_OK;
  const char *failed_call = NULL;
  for (int i = 0; i < threads; i++) {
    pthread_join(ids[i], NULL);
    ops += workers[i].ops;
    if (workers[i].last_return_ns > last_return) {
      last_return = workers[i].last_return_ns;
    }
    if (workers[i].failure != CKR_OK && failure == CKR_OK) {
      failure = workers[i].failure;
      failed_call = workers[i].failed_call;
    }
  }
  long long cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_before;
  if (failure != CKR_OK) {
    print_error(failed_call, failure);
  } else {
    printf("ok %llu %lld %lld", (unsigned long long) ops, last_return - start, cpu);
    for (int b = 0; b < BUCKETS; b++) {
      uint64_t count = 0;
      for (int i = 0; i < threads; i++) {
        count += workers[i].histogram[b];
      }
      if (count > 0) {
        printf(" %llu:%llu", (unsigned long long) bucket_value(b), (unsigned long long) count);
      }
    }
    printf("\n");
    fflush(stdout);
  }
  for (int i = 0; i < threads; i++) {
    free(workers[i].histogram);
  }
  free(ids);
  free(workers);
  free(ciphertext);
  free(plaintext);
}

/* The slot whose token carries label, padded with spaces to 32 bytes as PKCS#11 stores it. */
static int find_slot(const char *label) {
  CK_ULONG count = 0;
  if (p11->C_GetSlotList(CK_TRUE, NULL, &count) != CKR_OK || count == 0) {
    return 0;
  }
  CK_SLOT_ID *slots = calloc(count, sizeof *slots);
  int found = 0;
  if (p11->C_GetSlotList(CK_TRUE, slots, &count) == CKR_OK) {
    char padded[32];
    memset(padded, ' ', sizeof padded);
    memcpy(padded, label, strnlen(label, sizeof padded));
    for (CK_ULONG i = 0; i < count && !found; i++) {
      CK_TOKEN_INFO info;
      if (p11->C_GetTokenInfo(slots[i], &info) == CKR_OK && memcmp(info.label, padded, sizeof padded) == 0) {
        slot = slots[i];
        found = 1;
      }
    }
  }
  free(slots);
  return found;
}

/* The one AES key labelled label; prints an error and returns 0 if there is none, or several. */
static int find_key(CK_SESSION_HANDLE session, const char *label) {
  CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
  CK_KEY_TYPE aes = CKK_AES;
  CK_ATTRIBUTE template[] = {
      {CKA_CLASS, &secret, sizeof secret},
      {CKA_KEY_TYPE, &aes, sizeof aes},
      {CKA_LABEL, (void *) label, strlen(label)},
  };
  CK_RV rv = p11->C_FindObjectsInit(session, template, 3);
  if (rv != CKR_OK) {
    print_error("C_FindObjectsInit", rv);
    return 0;
  }
  CK_OBJECT_HANDLE found[2];
  CK_ULONG count = 0;
  rv = p11->C_FindObjects(session, found, 2, &count);
  p11->C_FindObjectsFinal(session);
  if (rv != CKR_OK) {
    print_error("C_FindObjects", rv);
    return 0;
  }
  if (count != 1) {
    printf("error %s AES key labelled '%s' on the token\n", count == 0 ? "no" : "more than one", label);
    fflush(stdout);
    return 0;
  }
  key = found[0];
  return 1;
}

/* Loads the library, logs in with the PIN on standard input's first line and finds the key. */
static int start(const char *library, const char *token, const char *key_label) {
  void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  CK_C_GetFunctionList get_function_list = handle == NULL ? NULL : (CK_C_GetFunctionList) dlsym(handle,
                                                                                               "C_GetFunctionList");
  if (get_function_list == NULL) {
    printf("error cannot load %s: %s\n", library, dlerror());
    fflush(stdout);
    return 0;
  }
  CK_RV rv = get_function_list(&p11);
  if (rv != CKR_OK) {
    print_error("C_GetFunctionList", rv);
    return 0;
  }
  CK_C_INITIALIZE_ARGS init = {.flags = CKF_OS_LOCKING_OK};
  rv = p11->C_Initialize(&init);
  if (rv != CKR_OK) {
    print_error("C_Initialize", rv);
    return 0;
  }
  if (!find_slot(token)) {
    printf("error no token labelled '%s' in %s\n", token, library);
    fflush(stdout);
    return 0;
  }
  rv = open_sessions_up_to(1);
  if (rv != CKR_OK) {
    print_error("C_OpenSession", rv);
    return 0;
  }
  char pin[1024];
  if (fgets(pin, sizeof pin, stdin) == NULL) {
    printf("error no PIN on standard input\n");
    fflush(stdout);
    return 0;
  }
  pin[strcspn(pin, "\r\n")] = '\0';
  rv = p11->C_Login(sessions[0], CKU_USER, (CK_UTF8CHAR_PTR) pin, strlen(pin));
  explicit_bzero(pin, sizeof pin);
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    print_error("C_Login", rv);
    return 0;
  }
  return find_key(sessions[0], key_label);
}

int main(int argc, char **argv) {
  if (argc != 5 || (strcmp(argv[4], "caller") != 0 && strcmp(argv[4], "token") != 0)) {
    fprintf(stderr, "usage: %s LIBRARY TOKEN_LABEL KEY_LABEL caller|token (PIN on standard input)\n", argv[0]);
    return 2;
  }
  token_picks_iv = strcmp(argv[4], "token") == 0;
  iv_prefix_base = (uint32_t) now_ns(CLOCK_REALTIME) ^ (uint32_t) getpid();
  if (!start(argv[1], argv[2], argv[3])) {
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  char line[256];
  while (fgets(line, sizeof line, stdin) != NULL) {
    char operation[16];
    long payload_bytes, millis;
    int threads;
    if (sscanf(line, "%15s %ld %d %ld", operation, &payload_bytes, &threads, &millis) != 4) {
      printf("error bad command: %s", line);
      fflush(stdout);
      continue;
    }
    run(operation, payload_bytes, threads, millis);
  }
  p11->C_Logout(sessions[0]);
  p11->C_Finalize(NULL);
  return 0;
}
