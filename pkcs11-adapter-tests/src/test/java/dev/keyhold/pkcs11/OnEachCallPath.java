package dev.keyhold.pkcs11;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A test that runs once for each {@link CryptoCalls} this JVM offers, passed as its first argument:
 * the IAIK wrapper always, the FFM fast path too on JDK 22 and newer. The test class provides them
 * with a static {@code callPaths()} that returns {@link CallPaths#of} its token's module.
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@ParameterizedTest(name = "{0}")
@MethodSource("callPaths")
@interface OnEachCallPath {}
