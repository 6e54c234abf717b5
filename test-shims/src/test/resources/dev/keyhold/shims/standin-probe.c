/*
 * Calls what the adapter never calls on the CloudHSM stand-in, and prints "name=0x<return value>"
 * (or "name=<hex bytes>") per line, for CloudHsmStandInProbeTest to read: every function CloudHSM
 * lacks, a read-only session, an officer login, the GCM IV rules at the PKCS#11 level, multi-part
 * CKM_CLOUDHSM_AES_GCM, and the mechanism list.
 *
 * It also counts, through the backing library itself (loaded once per process, so the stand-in's
 * HSM logins hold for it too), on how many backing tokens a session key and a token key made through
 * the stand-in are.
 *
 * Usage: standin-probe <module.so> <slot label> <backing library.so>, with "user:password" on
 * standard input.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <pkcs11.h>

#define CKM_CLOUDHSM_AES_GCM (CKM_VENDOR_DEFINED | CKM_AES_GCM)

/* On how many tokens of the backing library an object labelled `label` is. */
static int tokens_holding(const char *backing, const char *label) {
  void *library = dlopen(backing, RTLD_NOW);
  CK_C_GetFunctionList get = library == NULL ? NULL : (CK_C_GetFunctionList) dlsym(library, "C_GetFunctionList");
  CK_FUNCTION_LIST_PTR f;
  if (get == NULL || get(&f) != CKR_OK) {
    return -1;
  }
  CK_SLOT_ID slots[64];
  CK_ULONG count = 64;
  f->C_GetSlotList(CK_TRUE, slots, &count);
  int holding = 0;
  for (CK_ULONG i = 0; i < count; i++) {
    CK_SESSION_HANDLE s;
    if (f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK) {
      continue;
    }
    CK_ATTRIBUTE templ = {CKA_LABEL, (void *) label, strlen(label)};
    CK_OBJECT_HANDLE found;
    CK_ULONG n = 0;
    if (f->C_FindObjectsInit(s, &templ, 1) == CKR_OK) {
      f->C_FindObjects(s, &found, 1, &n);
      f->C_FindObjectsFinal(s);
    }
    holding += n > 0;
    f->C_CloseSession(s);
  }
  return holding;
}

static void out(const char *name, CK_RV rv) {
  printf("%s=0x%lx\n", name, rv);
}

static void out_bytes(const char *name, const CK_BYTE *bytes, size_t len) {
  printf("%s=", name);
  for (size_t i = 0; i < len; i++) {
    printf("%02x", bytes[i]);
  }
  printf("\n");
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s module.so label backing.so < pin\n", argv[0]);
    return 2;
  }
  char pin[256];
  if (fgets(pin, sizeof pin, stdin) == NULL) {
    return 2;
  }
  pin[strcspn(pin, "\n")] = '\0';
  void *library = dlopen(argv[1], RTLD_NOW);
  CK_C_GetFunctionList get = library == NULL ? NULL : (CK_C_GetFunctionList) dlsym(library, "C_GetFunctionList");
  CK_FUNCTION_LIST_PTR f;
  if (get == NULL || get(&f) != CKR_OK) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
    return 2;
  }
  CK_C_INITIALIZE_ARGS init = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
  out("C_Initialize", f->C_Initialize(&init));
  CK_SLOT_ID slot;
  CK_ULONG count = 1;
  out("C_GetSlotList", f->C_GetSlotList(CK_TRUE, &slot, &count));
  CK_TOKEN_INFO info;
  f->C_GetTokenInfo(slot, &info);
  printf("label=%.32s\n", (const char *) info.label);

  CK_MECHANISM_TYPE mechanisms[512];
  CK_ULONG n = 512;
  f->C_GetMechanismList(slot, mechanisms, &n);
  int listed = 0;
  for (CK_ULONG i = 0; i < n; i++) {
    listed |= mechanisms[i] == CKM_CLOUDHSM_AES_GCM;
  }
  printf("lists_CKM_CLOUDHSM_AES_GCM=%d\n", listed);

  CK_SESSION_HANDLE ro, s;
  out("C_OpenSession_read_only", f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro));
  out("C_OpenSession_read_write", f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
  out("C_Login_SO", f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR) pin, strlen(pin)));
  out("C_Login_USER", f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) pin, strlen(pin)));

  /* What CloudHSM lacks; the arguments are plausible, but must not matter. */
  CK_OBJECT_HANDLE none = 0, copy;
  CK_ULONG size = 0;
  CK_BYTE buffer[64];
  CK_ULONG buffer_len = sizeof buffer;
  CK_UTF8CHAR label[32];
  memset(label, ' ', sizeof label);
  CK_BBOOL yes = CK_TRUE;
  CK_ATTRIBUTE attribute = {CKA_ENCRYPT, &yes, sizeof yes};
  CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
  out("C_InitToken", f->C_InitToken(slot, (CK_UTF8CHAR_PTR) "so-pin", 6, label));
  out("C_InitPIN", f->C_InitPIN(s, (CK_UTF8CHAR_PTR) "new-pin", 7));
  out("C_SetPIN", f->C_SetPIN(s, (CK_UTF8CHAR_PTR) pin, strlen(pin), (CK_UTF8CHAR_PTR) "new-pin", 7));
  out("C_GetOperationState", f->C_GetOperationState(s, buffer, &buffer_len));
  out("C_SetOperationState", f->C_SetOperationState(s, buffer, 16, 0, 0));
  out("C_CopyObject", f->C_CopyObject(s, none, &attribute, 1, &copy));
  out("C_GetObjectSize", f->C_GetObjectSize(s, none, &size));
  out("C_SetAttributeValue", f->C_SetAttributeValue(s, none, &attribute, 1));
  out("C_DigestKey", f->C_DigestKey(s, none));
  out("C_SignRecoverInit", f->C_SignRecoverInit(s, &sha, none));
  out("C_SignRecover", f->C_SignRecover(s, buffer, 16, buffer, &buffer_len));
  out("C_VerifyRecoverInit", f->C_VerifyRecoverInit(s, &sha, none));
  out("C_VerifyRecover", f->C_VerifyRecover(s, buffer, 16, buffer, &buffer_len));
  out("C_DigestEncryptUpdate", f->C_DigestEncryptUpdate(s, buffer, 16, buffer, &buffer_len));
  out("C_DecryptDigestUpdate", f->C_DecryptDigestUpdate(s, buffer, 16, buffer, &buffer_len));
  out("C_SignEncryptUpdate", f->C_SignEncryptUpdate(s, buffer, 16, buffer, &buffer_len));
  out("C_DecryptVerifyUpdate", f->C_DecryptVerifyUpdate(s, buffer, 16, buffer, &buffer_len));
  out("C_SeedRandom", f->C_SeedRandom(s, buffer, 16));
  out("C_GetFunctionStatus", f->C_GetFunctionStatus(s));
  out("C_CancelFunction", f->C_CancelFunction(s));
  CK_SLOT_ID event_slot;
  out("C_WaitForSlotEvent", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &event_slot, NULL));

  /* A session AES key for the GCM rules. */
  CK_ULONG key_len = 32;
  CK_BBOOL no = CK_FALSE;
  char session_label[] = "probe-session-key";
  CK_ATTRIBUTE key_template[] = {
    {CKA_TOKEN, &no, sizeof no}, {CKA_VALUE_LEN, &key_len, sizeof key_len},
    {CKA_ENCRYPT, &yes, sizeof yes}, {CKA_DECRYPT, &yes, sizeof yes},
    {CKA_LABEL, session_label, strlen(session_label)},
  };
  CK_MECHANISM keygen = {CKM_AES_KEY_GEN, NULL, 0};
  CK_OBJECT_HANDLE key;
  out("C_GenerateKey_session", f->C_GenerateKey(s, &keygen, key_template, 5, &key));
  printf("session_key_on_hsms=%d\n", tokens_holding(argv[3], session_label));

  /* A token key, labelled per run: on every HSM. */
  char token_label[64];
  snprintf(token_label, sizeof token_label, "probe-token-key-%ld", (long) getpid());
  CK_ATTRIBUTE token_template[] = {
    {CKA_TOKEN, &yes, sizeof yes}, {CKA_VALUE_LEN, &key_len, sizeof key_len},
    {CKA_ENCRYPT, &yes, sizeof yes}, {CKA_DECRYPT, &yes, sizeof yes},
    {CKA_LABEL, token_label, strlen(token_label)},
  };
  CK_OBJECT_HANDLE token_key;
  out("C_GenerateKey_token", f->C_GenerateKey(s, &keygen, token_template, 5, &token_key));
  printf("token_key_on_hsms=%d\n", tokens_holding(argv[3], token_label));
  out("C_DestroyObject_token", f->C_DestroyObject(s, token_key));
  printf("token_key_on_hsms_after_destroy=%d\n", tokens_holding(argv[3], token_label));

  CK_BYTE plain[16] = "sixteen bytes!!", cipher[64], back[64];
  CK_ULONG cipher_len, back_len;

  /* CKM_CLOUDHSM_AES_GCM: pIv must be NULL; multi-part is refused. */
  CK_BYTE iv[12];
  memset(iv, 0xAA, sizeof iv);
  CK_GCM_PARAMS vendor_with_iv = {iv, 12, 96, NULL, 0, 128};
  CK_MECHANISM vendor_gcm_with_iv = {CKM_CLOUDHSM_AES_GCM, &vendor_with_iv, sizeof vendor_with_iv};
  out("vendor_gcm_init_with_iv", f->C_EncryptInit(s, &vendor_gcm_with_iv, key));
  CK_GCM_PARAMS vendor_params = {NULL, 0, 0, NULL, 0, 128};
  CK_MECHANISM vendor_gcm = {CKM_CLOUDHSM_AES_GCM, &vendor_params, sizeof vendor_params};
  out("vendor_gcm_init", f->C_EncryptInit(s, &vendor_gcm, key));
  cipher_len = sizeof cipher;
  out("vendor_gcm_update", f->C_EncryptUpdate(s, plain, 16, cipher, &cipher_len));

  /* CKM_AES_GCM: a caller's IV (0xAA...) in pIv, then a zero buffer. */
  memset(iv, 0xAA, sizeof iv);
  CK_GCM_PARAMS params = {iv, 12, 96, NULL, 0, 128};
  CK_MECHANISM gcm = {CKM_AES_GCM, &params, sizeof params};
  out("plain_gcm_init_caller_iv", f->C_EncryptInit(s, &gcm, key));
  out_bytes("plain_gcm_iv_after_init_caller_iv", iv, 12);
  cipher_len = sizeof cipher;
  out("plain_gcm_encrypt_caller_iv", f->C_Encrypt(s, plain, 16, cipher, &cipher_len));

  memset(iv, 0, sizeof iv);
  out("plain_gcm_init_zero_iv", f->C_EncryptInit(s, &gcm, key));
  out_bytes("plain_gcm_iv_after_init_zero_iv", iv, 12);
  cipher_len = sizeof cipher;
  out("plain_gcm_encrypt_zero_iv", f->C_Encrypt(s, plain, 16, cipher, &cipher_len));
  printf("plain_gcm_ciphertext_length=%lu\n", cipher_len);
  /* Decryption with the IV the module wrote back. */
  out("plain_gcm_decrypt_init", f->C_DecryptInit(s, &gcm, key));
  back_len = sizeof back;
  out("plain_gcm_decrypt", f->C_Decrypt(s, cipher, cipher_len, back, &back_len));
  printf("plain_gcm_round_trip=%d\n", back_len == 16 && memcmp(back, plain, 16) == 0);

  out("C_Logout", f->C_Logout(s));
  out("C_CloseSession", f->C_CloseSession(s));
  out("C_Finalize", f->C_Finalize(NULL));
  return 0;
}
