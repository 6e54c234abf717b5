package dev.keyhold.pkcs11;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import com.google.common.base.Throwables;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.Session;

/**
 * {@link CryptoCalls} through the Foreign Function & Memory API (JDK 22 and newer), on the function list
 * of the very library the wrapper loaded and initialised ({@code dlopen} of its path returns that
 * library), on the wrapper's sessions and key handles.
 *
 * <p>Each thread keeps its native memory from call to call: the {@code CK_MECHANISM}, its {@code
 * CK_GCM_PARAMS}, the IV, the output length, and one buffer for associated data, input and output
 * that grows to the largest call (kept up to {@link #RETAINED_BUFFER}). So a call allocates nothing but its
 * result, and asks the token for no output size: GCM's output length is known in advance. The memory
 * belongs to an automatic arena, freed once its thread is gone.
 *
 * <p>Pointers travel as 64-bit integers, in the structs and in the calls, so that a call makes no
 * {@link MemorySegment} for the parts of its buffer; this needs {@code CK_ULONG} and pointers of 8
 * bytes (LP64: Linux and macOS on 64-bit machines), or the class does not load. The calls are not
 * {@linkplain Linker.Option#critical critical}: a network HSM may keep one for seconds, and a critical
 * call would hold up every safepoint of the JVM as long.
 */
final class FfmCryptoCalls implements CryptoCalls {
  private static final Linker LINKER = Linker.nativeLinker();
  /** {@code CK_ULONG}: C's {@code unsigned long}. */
  private static final MemoryLayout ULONG = ulong();
  private static final StructLayout MECHANISM = MemoryLayout.structLayout(
      ULONG.withName("mechanism"), ADDRESS.withName("pParameter"), ULONG.withName("ulParameterLen"));
  /** As SoftHSM2 and AWS CloudHSM read it (PKCS#11 v2.40; v3.0 added no field for them). */
  private static final StructLayout GCM_PARAMS = MemoryLayout.structLayout(
      ADDRESS.withName("pIv"), ULONG.withName("ulIvLen"), ULONG.withName("ulIvBits"),
      ADDRESS.withName("pAAD"), ULONG.withName("ulAADLen"), ULONG.withName("ulTagBits"));

  // The fixed part of a thread's scratch memory: the mechanism, its parameters, the IV, the output length.
  private static final long MECHANISM_AT = 0;
  private static final long PARAMS_AT = MECHANISM_AT + MECHANISM.byteSize();
  private static final long IV_AT = PARAMS_AT + GCM_PARAMS.byteSize();
  private static final long LENGTH_AT = IV_AT + 16; // the 12-byte IV, padded to align the CK_ULONG after it
  private static final long FIXED_SIZE = LENGTH_AT + 8;

  private static final long MECHANISM_TYPE = offset(MECHANISM, "mechanism");
  private static final long P_IV = PARAMS_AT + offset(GCM_PARAMS, "pIv");
  private static final long UL_IV_LEN = PARAMS_AT + offset(GCM_PARAMS, "ulIvLen");
  private static final long UL_IV_BITS = PARAMS_AT + offset(GCM_PARAMS, "ulIvBits");
  private static final long P_AAD = PARAMS_AT + offset(GCM_PARAMS, "pAAD");
  private static final long UL_AAD_LEN = PARAMS_AT + offset(GCM_PARAMS, "ulAADLen");

  /** A thread keeps a buffer of at most this size from call to call. */
  private static final long RETAINED_BUFFER = 1 << 20;
  private static final long CKR_OK = 0;

  /** Indexes of the functions in {@code CK_FUNCTION_LIST}, after its {@code CK_VERSION} (pkcs11f.h order). */
  private static final int C_ENCRYPT_INIT = 29;
  private static final int C_ENCRYPT = 30;
  private static final int C_DECRYPT_INIT = 33;
  private static final int C_DECRYPT = 34;
  private static final int C_GENERATE_RANDOM = 64;
  private static final int FUNCTIONS_USED = C_GENERATE_RANDOM + 1;

  /**
   * {@code CK_RV f(CK_ULONG, CK_ULONG, CK_ULONG)}, pointers passed as integers: {@code C_EncryptInit}
   * and {@code C_DecryptInit} (session, mechanism, key), {@code C_GenerateRandom} (session, out, length).
   */
  private static final FunctionDescriptor THREE_ARGUMENTS =
      FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
  /** {@code C_Encrypt} and {@code C_Decrypt}: session, input, input length, output, output length's address. */
  private static final FunctionDescriptor FIVE_ARGUMENTS =
      FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  private final MethodHandle encryptInit;
  private final MethodHandle encrypt;
  private final MethodHandle decryptInit;
  private final MethodHandle decrypt;
  private final MethodHandle generateRandom;

  /**
   * Reads the function list of the library at {@code library}, which the wrapper has loaded and
   * initialised; this never calls {@code C_Initialize}.
   *
   * @throws IllegalStateException if the library's {@code C_GetFunctionList} fails
   */
  @SuppressWarnings("restricted") // the native access this class exists for
  FfmCryptoCalls(Path library) throws Throwable {
    SymbolLookup symbols = SymbolLookup.libraryLookup(library, Arena.global()); // never unloaded, as the wrapper's
    MemorySegment getFunctionList = symbols.find("C_GetFunctionList")
        .orElseThrow(() -> new IllegalStateException(library + " exports no C_GetFunctionList"));
    MemorySegment functions;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment list = arena.allocate(ADDRESS);
      long rv = (long) LINKER.downcallHandle(getFunctionList, FunctionDescriptor.of(JAVA_LONG, ADDRESS))
          .invokeExact(list);
      if (rv != CKR_OK) {
        throw new IllegalStateException("C_GetFunctionList of " + library + " failed: " + Pkcs11Errors.nameOf(rv));
      }
      // CK_VERSION (two bytes), padded to a pointer, then the pointers to the functions.
      functions = list.get(ADDRESS, 0).reinterpret(ADDRESS.byteSize() * (1 + FUNCTIONS_USED));
    }
    encryptInit = function(functions, C_ENCRYPT_INIT, THREE_ARGUMENTS);
    encrypt = function(functions, C_ENCRYPT, FIVE_ARGUMENTS);
    decryptInit = function(functions, C_DECRYPT_INIT, THREE_ARGUMENTS);
    decrypt = function(functions, C_DECRYPT, FIVE_ARGUMENTS);
    generateRandom = function(functions, C_GENERATE_RANDOM, THREE_ARGUMENTS);
  }

  @Override
  public byte[] encryptGcm(Session session, long key, long mechanism, byte[] iv, byte[] aad, byte[] plaintext)
      throws PKCS11Exception {
    Scratch scratch = SCRATCH.get();
    int prefix = iv == null ? 0 : iv.length;
    int maxOutput = plaintext.length + Aead.TAG_LENGTH + (iv == null ? Aead.IV_LENGTH : 0);
    long in = scratch.prepare(mechanism, iv, aad, plaintext, 0, plaintext.length, maxOutput);
    long out = in + plaintext.length;
    long handle = session.getSessionHandle();
    check(call(encryptInit, handle, scratch.address + MECHANISM_AT, key));
    check(call(encrypt, handle, in, plaintext.length, out, scratch.address + LENGTH_AT));
    // A token that writes its IV back into pIv (CloudHSM's CKM_AES_GCM) leaves there the one it used.
    return scratch.result(prefix, out);
  }

  @Override
  public byte[] decryptGcm(Session session, long key, long mechanism, boolean ivInParameters, byte[] aad,
      byte[] ciphertext) throws PKCS11Exception {
    Scratch scratch = SCRATCH.get();
    int skip = ivInParameters ? Aead.IV_LENGTH : 0;
    int inLength = ciphertext.length - skip;
    // SoftHSM2 wants room for the whole input, tag included, before it checks the tag.
    long in = scratch.prepare(mechanism, ivInParameters ? ciphertext : null, aad, ciphertext, skip, inLength, inLength);
    long out = in + inLength;
    long handle = session.getSessionHandle();
    check(call(decryptInit, handle, scratch.address + MECHANISM_AT, key));
    check(call(decrypt, handle, in, inLength, out, scratch.address + LENGTH_AT));
    return scratch.result(0, out);
  }

  @Override
  public byte[] generateRandom(Session session, int length) throws PKCS11Exception {
    Scratch scratch = SCRATCH.get();
    long out = scratch.buffer(length);
    check(call(generateRandom, session.getSessionHandle(), out, length));
    return scratch.copy(out, 0, length);
  }

  @Override
  public String describe() {
    return "FFM fast path (JDK " + Runtime.version().feature() + ")";
  }

  @Override
  public String toString() {
    return describe();
  }

  private static long call(MethodHandle function, long a, long b, long c) {
    try {
      return (long) function.invokeExact(a, b, c);
    } catch (Throwable e) {
      throw unexpected(e);
    }
  }

  private static long call(MethodHandle function, long a, long b, long c, long d, long e) {
    try {
      return (long) function.invokeExact(a, b, c, d, e);
    } catch (Throwable t) {
      throw unexpected(t);
    }
  }

  /** A downcall throws only what the linker itself might (a native crash ends the process instead). */
  private static RuntimeException unexpected(Throwable e) {
    Throwables.throwIfUnchecked(e);
    return new IllegalStateException("a downcall threw", e);
  }

  private static void check(long returnValue) throws PKCS11Exception {
    if (returnValue != CKR_OK) {
      throw new PKCS11Exception(returnValue);
    }
  }

  @SuppressWarnings("restricted")
  private static MethodHandle function(MemorySegment functions, int index, FunctionDescriptor descriptor) {
    MemorySegment pointer = functions.getAtIndex(ADDRESS, 1 + index);
    if (pointer.equals(MemorySegment.NULL)) {
      throw new IllegalStateException("the function list has no function " + index);
    }
    return LINKER.downcallHandle(pointer, descriptor);
  }

  /** {@code CK_ULONG}'s layout; the class does not load where it or a pointer is not 8 bytes wide. */
  private static MemoryLayout ulong() {
    MemoryLayout ulong = LINKER.canonicalLayouts().get("long");
    if (ulong.byteSize() != 8 || ADDRESS.byteSize() != 8) {
      throw new UnsupportedOperationException("CK_ULONG of " + ulong.byteSize() + " bytes and pointers of "
          + ADDRESS.byteSize() + ": the FFM fast path needs LP64");
    }
    return ulong;
  }

  private static long offset(StructLayout struct, String field) {
    return struct.byteOffset(groupElement(field));
  }

  /** One thread's native memory; see the class comment. */
  private static final class Scratch {
    /** The fixed part, at {@link #address}: mechanism, parameters, IV, output length. */
    private final MemorySegment fixed = Arena.ofAuto().allocate(FIXED_SIZE, 8);
    private final long address = fixed.address();
    private MemorySegment buffer = MemorySegment.NULL;

    Scratch() {
      fixed.set(JAVA_LONG, MECHANISM_AT + offset(MECHANISM, "pParameter"), address + PARAMS_AT);
      fixed.set(JAVA_LONG, MECHANISM_AT + offset(MECHANISM, "ulParameterLen"), GCM_PARAMS.byteSize());
      fixed.set(JAVA_LONG, PARAMS_AT + offset(GCM_PARAMS, "ulTagBits"), Aead.TAG_LENGTH * 8);
    }

    /**
     * Writes the mechanism and its parameters (the IV from the front of {@code ivSource}, or a NULL {@code
     * pIv} for none), then
     * {@code aad} and {@code inLength} bytes of {@code input} from {@code inFrom} into the buffer, which
     * leaves {@code maxOutput} bytes after them and the output length set to that.
     *
     * @return the input's address; the output's follows it
     */
    long prepare(long mechanism, byte[] ivSource, byte[] aad, byte[] input, int inFrom, int inLength, int maxOutput) {
      int aadLength = aad == null ? 0 : aad.length;
      long base = buffer((long) aadLength + inLength + maxOutput);
      fixed.set(JAVA_LONG, MECHANISM_AT + MECHANISM_TYPE, mechanism);
      if (ivSource == null) {
        fixed.set(JAVA_LONG, P_IV, 0);
        fixed.set(JAVA_LONG, UL_IV_LEN, 0);
        fixed.set(JAVA_LONG, UL_IV_BITS, 0);
      } else {
        MemorySegment.copy(ivSource, 0, fixed, JAVA_BYTE, IV_AT, Aead.IV_LENGTH);
        fixed.set(JAVA_LONG, P_IV, address + IV_AT);
        fixed.set(JAVA_LONG, UL_IV_LEN, Aead.IV_LENGTH);
        fixed.set(JAVA_LONG, UL_IV_BITS, Aead.IV_LENGTH * 8);
      }
      fixed.set(JAVA_LONG, P_AAD, aadLength == 0 ? 0 : base);
      fixed.set(JAVA_LONG, UL_AAD_LEN, aadLength);
      fixed.set(JAVA_LONG, LENGTH_AT, maxOutput);
      long bufferStart = buffer.address();
      if (aadLength > 0) {
        MemorySegment.copy(aad, 0, buffer, JAVA_BYTE, base - bufferStart, aadLength);
      }
      MemorySegment.copy(input, inFrom, buffer, JAVA_BYTE, base - bufferStart + aadLength, inLength);
      return base + aadLength;
    }

    /** The IV slot's first {@code prefix} bytes followed by the output at {@code out}, of the length the token wrote. */
    byte[] result(int prefix, long out) {
      long length = fixed.get(JAVA_LONG, LENGTH_AT);
      byte[] result = copy(out, prefix, Math.toIntExact(length));
      MemorySegment.copy(fixed, JAVA_BYTE, IV_AT, result, 0, prefix);
      return result;
    }

    /** {@code length} bytes at {@code from} in the buffer, after {@code prefix} bytes left for the caller. */
    byte[] copy(long from, int prefix, int length) {
      byte[] result = new byte[prefix + length];
      MemorySegment.copy(buffer, JAVA_BYTE, from - buffer.address(), result, prefix, length);
      return result;
    }

    /**
     * The address of a buffer of at least {@code size} bytes, valid until this thread's next call. One
     * grown past {@link #RETAINED_BUFFER} serves its call only: the next smaller one replaces it.
     */
    long buffer(long size) {
      long held = buffer.byteSize();
      if (held < size || (held > RETAINED_BUFFER && size <= RETAINED_BUFFER)) {
        long capacity = size > RETAINED_BUFFER ? size : Math.min(RETAINED_BUFFER, Math.max(size, 2 * held));
        buffer = Arena.ofAuto().allocate(capacity, 8); // the old one is freed once unreachable
      }
      return buffer.address();
    }
  }
}
