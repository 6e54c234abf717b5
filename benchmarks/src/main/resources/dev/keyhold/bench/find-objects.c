/*
 * find-objects: what one search by label costs a PKCS#11 library, from C, with no Java in between.
 *
 *   find-objects LIBRARY TOKEN_LABEL SEARCHES < input
 *
 * input: the user PIN on the first line (never an argument or the environment: those show in ps and
 * /proc), then the labels of objects on the token, one a line. The program logs in to the token
 * labelled TOKEN_LABEL, then SEARCHES times picks a label at random and times C_FindObjectsInit with
 * the template {CKA_LABEL} + C_FindObjects + C_FindObjectsFinal; a search that finds no object, or
 * more than one, is an error. It prints one line:
 *
 *   objects=N searches=S init_ms=I login_ms=L mean_us=M p50_us=P p99_us=Q
 *
 * N the token's objects that the user sees (one search with an empty template), I the time of
 * C_Initialize (SoftHSM2 reads its token files then), L that of C_Login. Exits 1 with a message on
 * standard error when any call fails.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pkcs11.h"

#define MAX_LINE 1024

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
  printf("objects=%lu searches=%ld init_ms=%.1f login_ms=%.1f mean_us=%.1f p50_us=%.1f p99_us=%.1f\n",
      (unsigned long) objects, searches, init_ms, login_ms, sum / searches, micros[searches / 2],
      micros[(long) (searches * 0.99)]);
  check(p11->C_Logout(session), "C_Logout");
  check(p11->C_CloseSession(session), "C_CloseSession");
  check(p11->C_Finalize(NULL), "C_Finalize");
  return 0;
}
