/*
 * find-objects: what one search by label costs a PKCS#11 library, from C, with no Java in between.
 *
 *   find-objects LIBRARY TOKEN_LABEL SEARCHES < input
 *
 * input: the user PIN on the first line (never an argument or the environment: those show in ps and
 * /proc), then the labels of objects on the token, one a line. The program logs in to the token
 * labelled TOKEN_LABEL, then SEARCHES times picks a label at random and times C_FindObjectsInit with
 * the template {CKA_LABEL} + C_FindObjects + C_FindObjectsFinal; a search that finds no object, or
 * more than one, is an error. Then it times AES-GCM encryption of 32 bytes (C_EncryptInit +
 * C_Encrypt, a fresh IV each) on the keys of the labels given: ENCRYPTS calls on the first one, then
 * ENCRYPTS on keys drawn at random, each mode once unrecorded first; what the token itself pays for
 * using many keys rather than one. It prints one line:
 *
 *   objects=N searches=S init_ms=I login_ms=L mean_us=M p50_us=P p99_us=Q keys=K
 *     one_key_p50_us=A one_key_p99_us=B random_keys_p50_us=C random_keys_p99_us=D
 *
 * N the token's objects that the user sees (one search with an empty template), I the time of
 * C_Initialize (SoftHSM2 reads its token files then), L that of C_Login, K the keys found for the
 * labels (by reading every object's label once). Exits 1 with a message on standard error when any
 * call fails.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pkcs11.h"

#define MAX_LINE 1024
#define ENCRYPTS 20000

static CK_FUNCTION_LIST_PTR p11;

static void check(CK_RV rv, const char *call) {
  if (rv != CKR_OK) {
    fprintf(stderr, "find-objects: %s failed: 0x%lx\n", call, (unsigned long) rv);
    exit(1);
  }
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Reads one line without its newline into a fresh string; NULL at the end of the input. */
static char *read_line(void) {
  char buffer[MAX_LINE];
  if (fgets(buffer, sizeof buffer, stdin) == NULL) {
    return NULL;
  }
  buffer[strcspn(buffer, "\r\n")] = '\0';
  return strdup(buffer);
}

static CK_SLOT_ID slot_of(const char *token_label) {
  CK_ULONG count = 0;
  check(p11->C_GetSlotList(CK_TRUE, NULL, &count), "C_GetSlotList");
  CK_SLOT_ID *slots = calloc(count, sizeof *slots);
  check(p11->C_GetSlotList(CK_TRUE, slots, &count), "C_GetSlotList");
  for (CK_ULONG i = 0; i < count; i++) {
    CK_TOKEN_INFO info;
    check(p11->C_GetTokenInfo(slots[i], &info), "C_GetTokenInfo");
    /* Token labels are 32 bytes padded with blanks, not terminated. */
    size_t length = strlen(token_label);
    if (length <= sizeof info.label && memcmp(info.label, token_label, length) == 0
        && (length == sizeof info.label || info.label[length] == ' ')) {
      CK_SLOT_ID slot = slots[i];
      free(slots);
      return slot;
    }
  }
  fprintf(stderr, "find-objects: no token labelled '%s'\n", token_label);
  exit(1);
}

/* The objects a search with this template finds, up to max. */
static CK_ULONG find(CK_SESSION_HANDLE session, CK_ATTRIBUTE *template, CK_ULONG attributes,
    CK_OBJECT_HANDLE *found, CK_ULONG max) {
  CK_ULONG count = 0;
  check(p11->C_FindObjectsInit(session, template, attributes), "C_FindObjectsInit");
  check(p11->C_FindObjects(session, found, max, &count), "C_FindObjects");
  check(p11->C_FindObjectsFinal(session), "C_FindObjectsFinal");
  return count;
}

static int by_string(const void *a, const void *b) {
  return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The handles of the objects whose labels are among the labels given (sorted), each read once. */
static CK_ULONG keys_labelled(CK_SESSION_HANDLE session, char **sorted, size_t labels, CK_OBJECT_HANDLE *keys) {
  size_t capacity = 1024, objects = 0;
  CK_OBJECT_HANDLE *all = malloc(capacity * sizeof *all);
  CK_ULONG count = 0;
  check(p11->C_FindObjectsInit(session, NULL, 0), "C_FindObjectsInit");
  do {
    if (objects + 256 > capacity) {
      all = realloc(all, (capacity *= 2) * sizeof *all);
    }
    check(p11->C_FindObjects(session, all + objects, 256, &count), "C_FindObjects");
    objects += count;
  } while (count > 0);
  check(p11->C_FindObjectsFinal(session), "C_FindObjectsFinal");
  CK_ULONG found = 0;
  for (size_t i = 0; i < objects && found < labels; i++) {
    char value[MAX_LINE] = {0};
    CK_ATTRIBUTE label = {CKA_LABEL, value, sizeof value - 1};
    if (p11->C_GetAttributeValue(session, all[i], &label, 1) == CKR_OK) {
      char *name = value;
      if (bsearch(&name, sorted, labels, sizeof *sorted, by_string) != NULL) {
        keys[found++] = all[i];
      }
    }
  }
  free(all);
  return found;
}

/* ENCRYPTS encryptions of 32 bytes, on keys[0] or on keys at random; their latencies, sorted, in micros. */
static void encrypt_on(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE *keys, CK_ULONG count, int at_random,
    double *micros) {
  CK_BYTE iv[12] = {0}, plaintext[32] = {0}, ciphertext[64];
  CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, NULL, 0, 128};
  CK_MECHANISM mechanism = {CKM_AES_GCM, &gcm, sizeof gcm};
  for (long i = 0; i < ENCRYPTS; i++) {
    memcpy(iv, &i, sizeof i); /* never the same IV twice under one key */
    iv[11]++;
    CK_OBJECT_HANDLE key = at_random ? keys[rand() % count] : keys[0];
    CK_ULONG length = sizeof ciphertext;
    double start = now_us();
    check(p11->C_EncryptInit(session, &mechanism, key), "C_EncryptInit");
    check(p11->C_Encrypt(session, plaintext, sizeof plaintext, ciphertext, &length), "C_Encrypt");
    micros[i] = now_us() - start;
  }
  qsort(micros, ENCRYPTS, sizeof *micros, by_value);
}

static CK_ULONG count_objects(CK_SESSION_HANDLE session) {
  CK_OBJECT_HANDLE found[256];
  CK_ULONG total = 0, count = 0;
  check(p11->C_FindObjectsInit(session, NULL, 0), "C_FindObjectsInit");
  do {
    check(p11->C_FindObjects(session, found, 256, &count), "C_FindObjects");
    total += count;
  } while (count > 0);
  check(p11->C_FindObjectsFinal(session), "C_FindObjectsFinal");
  return total;
}

int main(int argc, char **argv) {
  if (argc != 4 || atol(argv[3]) < 1) {
    fprintf(stderr, "usage: find-objects LIBRARY TOKEN_LABEL SEARCHES < pin-and-labels\n");
    return 2;
  }
  long searches = atol(argv[3]);
  char *pin = read_line();
  if (pin == NULL) {
    fprintf(stderr, "find-objects: no PIN on standard input\n");
    return 2;
  }
  size_t capacity = 1024, labels = 0;
  char **label = malloc(capacity * sizeof *label);
  for (char *line = read_line(); line != NULL; line = read_line()) {
    if (labels == capacity) {
      label = realloc(label, (capacity *= 2) * sizeof *label);
    }
    label[labels++] = line;
  }
  if (labels == 0) {
    fprintf(stderr, "find-objects: no labels on standard input\n");
    return 2;
  }

  void *library = dlopen(argv[1], RTLD_NOW);
  if (library == NULL) {
    fprintf(stderr, "find-objects: %s\n", dlerror());
    return 1;
  }
  CK_C_GetFunctionList get_function_list = (CK_C_GetFunctionList) dlsym(library, "C_GetFunctionList");
  if (get_function_list == NULL) {
    fprintf(stderr, "find-objects: no C_GetFunctionList in %s\n", argv[1]);
    return 1;
  }
  check(get_function_list(&p11), "C_GetFunctionList");

  double t0 = now_us();
  check(p11->C_Initialize(NULL), "C_Initialize");
  double init_ms = (now_us() - t0) / 1e3;
  CK_SESSION_HANDLE session;
  check(p11->C_OpenSession(slot_of(argv[2]), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session),
      "C_OpenSession");
  t0 = now_us();
  check(p11->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR) pin, strlen(pin)), "C_Login");
  double login_ms = (now_us() - t0) / 1e3;
  memset(pin, 0, strlen(pin));
  CK_ULONG objects = count_objects(session);

  double *micros = malloc(searches * sizeof *micros);
  double sum = 0;
  srand((unsigned) time(NULL));
  for (long i = 0; i < searches; i++) {
    const char *wanted = label[rand() % labels];
    CK_ATTRIBUTE template[] = {{CKA_LABEL, (CK_VOID_PTR) wanted, strlen(wanted)}};
    CK_OBJECT_HANDLE found[2];
    double start = now_us();
    CK_ULONG count = find(session, template, 1, found, 2);
    micros[i] = now_us() - start;
    sum += micros[i];
    if (count != 1) {
      fprintf(stderr, "find-objects: %lu objects labelled '%s', not 1\n", (unsigned long) count, wanted);
      return 1;
    }
  }
  qsort(micros, searches, sizeof *micros, by_value);
  printf("objects=%lu searches=%ld init_ms=%.1f login_ms=%.1f mean_us=%.1f p50_us=%.1f p99_us=%.1f",
      (unsigned long) objects, searches, init_ms, login_ms, sum / searches, micros[searches / 2],
      micros[(long) (searches * 0.99)]);

  qsort(label, labels, sizeof *label, by_string);
  CK_OBJECT_HANDLE *keys = malloc(labels * sizeof *keys);
  CK_ULONG found = keys_labelled(session, label, labels, keys);
  if (found == 0) {
    fprintf(stderr, "find-objects: no key with any of the labels given\n");
    return 1;
  }
  double *one = malloc(ENCRYPTS * sizeof *one), *random = malloc(ENCRYPTS * sizeof *random);
  for (int pass = 0; pass < 2; pass++) { /* the first pass warms the token's and the CPU's caches */
    encrypt_on(session, keys, found, 0, one);
    encrypt_on(session, keys, found, 1, random);
  }
  printf(" keys=%lu one_key_p50_us=%.1f one_key_p99_us=%.1f random_keys_p50_us=%.1f random_keys_p99_us=%.1f\n",
      (unsigned long) found, one[ENCRYPTS / 2], one[(long) (ENCRYPTS * 0.99)], random[ENCRYPTS / 2],
      random[(long) (ENCRYPTS * 0.99)]);
  check(p11->C_Logout(session), "C_Logout");
  check(p11->C_CloseSession(session), "C_CloseSession");
  check(p11->C_Finalize(NULL), "C_Finalize");
  return 0;
}
