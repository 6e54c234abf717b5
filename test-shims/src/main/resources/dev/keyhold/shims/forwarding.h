/*
 * What every shim of this package shares: a PKCS#11 v2.40 function list that forwards to a real
 * library (REAL_MODULE, fixed at compile time), with the entries a shim replaces. Include it once, in
 * the shim's one source file; define replace_entries() and export C_GetFunctionList as
 *
 *   CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) { return forward(list, "my-shim"); }
 */
#ifndef KEYHOLD_FORWARDING_H
#define KEYHOLD_FORWARDING_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* SoftHSM2's header (p11-kit's) defines the platform macros itself and has the standard names. */
#include <pkcs11.h>

#ifndef REAL_MODULE
#error "define REAL_MODULE as the quoted path of the PKCS#11 library to forward to"
#endif

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST_PTR real;  /* set once, under mutex, by C_GetFunctionList */
static CK_FUNCTION_LIST shim;      /* real's list with the shim's entries replaced */
/* Whether our C_Initialize initialised real (an application never runs it and C_Finalize at once). */
static CK_BBOOL owns_real;

static CK_RV shim_initialize(CK_VOID_PTR init_args) {
  CK_RV rv = real->C_Initialize(init_args);
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    /* The application also loads the real library directly; its C_Finalize is not ours to make. */
    owns_real = CK_FALSE;
    return CKR_OK;
  }
  owns_real = rv == CKR_OK;
  return rv;
}

static CK_RV shim_finalize(CK_VOID_PTR reserved) {
  if (!owns_real) {
    return CKR_OK;
  }
  owns_real = CK_FALSE;
  return real->C_Finalize(reserved);
}

/* Replaces the shim's own entries of shim (besides C_Initialize and C_Finalize); runs under mutex. */
static void replace_entries(void);

/* C_GetFunctionList's body: loads real once and hands out shim. */
static CK_RV forward(CK_FUNCTION_LIST_PTR_PTR list, const char *shim_name) {
  if (list == NULL) {
    return CKR_ARGUMENTS_BAD;
  }
  CK_RV rv = CKR_OK;
  pthread_mutex_lock(&mutex);
  if (real == NULL) {
    /* Never closed: the copied entries point into it for as long as this module lives. */
    void *library = dlopen(REAL_MODULE, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList get_real =
        library == NULL ? NULL : (CK_C_GetFunctionList) dlsym(library, "C_GetFunctionList");
    if (get_real == NULL) {
      fprintf(stderr, "%s: cannot load %s: %s\n", shim_name, REAL_MODULE, dlerror());
      rv = CKR_GENERAL_ERROR;
    } else if ((rv = get_real(&real)) == CKR_OK) {
      shim = *real;
      shim.C_Initialize = shim_initialize;
      shim.C_Finalize = shim_finalize;
      replace_entries();
    } else {
      real = NULL;
    }
  }
  pthread_mutex_unlock(&mutex);
  if (rv == CKR_OK) {
    *list = &shim;
  }
  return rv;
}

#endif
