package dev.keyhold.pkcs11;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xipki.pkcs11.wrapper.StaticLogger;

/**
 * Sends the wrapper's log lines to SLF4J instead of standard output. The wrapper logs function names,
 * lengths and attribute templates, never PIN arguments.
 */
final class WrapperLogging implements org.xipki.pkcs11.wrapper.Logger {
  private static final Logger LOG = LoggerFactory.getLogger("org.xipki.pkcs11.wrapper");

  private WrapperLogging() {}

  static void install() {
    StaticLogger.setLogger(new WrapperLogging());
  }

  @Override
  public void info(String format, Object... arguments) {
    LOG.info(format, arguments);
  }

  @Override
  public void warn(String format, Object... arguments) {
    LOG.warn(format, arguments);
  }

  @Override
  public void error(String format, Object... arguments) {
    LOG.error(format, arguments);
  }

  @Override
  public void debug(String format, Object... arguments) {
    LOG.debug(format, arguments);
  }

  @Override
  public void trace(String format, Object... arguments) {
    LOG.trace(format, arguments);
  }

  @Override
  public boolean isDebugEnabled() {
    return LOG.isDebugEnabled();
  }

  @Override
  public boolean isInfoEnabled() {
    return LOG.isInfoEnabled();
  }

  @Override
  public boolean isWarnEnabled() {
    return LOG.isWarnEnabled();
  }

  @Override
  public boolean isTraceEnabled() {
    return LOG.isTraceEnabled();
  }
}
