package dev.keyhold.server.wire;

import static dev.keyhold.kms.error.KmsErrorType.UnsupportedOperationException;
import static dev.keyhold.server.WireException.Type.SerializationException;

import com.fasterxml.jackson.annotation.JsonAlias;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSetter;
import com.fasterxml.jackson.annotation.Nulls;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.module.blackbird.BlackbirdModule;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import com.fasterxml.jackson.databind.type.LogicalType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Validation;
import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.server.WireException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * JSON as the awsJson1_1 protocol writes it, over kms-core's own request and response records: members
 * in UpperCamelCase ({@code keyId} is {@code KeyId}), blobs as base64 strings, timestamps as epoch
 * seconds with a fraction ({@code 1.499288695918E9}), absent members left out.
 *
 * <p>Reading is strict where AWS's is: a member of the wrong JSON type is an error (no {@code "5"} for 5,
 * no 5 for {@code "5"}), as is invalid base64, a duplicate member or anything after the object. Members
 * Keyhold does not know are skipped, as a client of a newer API version may send them; except the few
 * whose silent omission would change what the request means. {@code GrantTokens}, in any request, is
 * checked as it is read ({@code grantTokens}), where a valid one makes its grant seen at once, and not kept.
 *
 * <p>Thread-safe.
 */
final class WireJson {
  /** The attribute through which reading reaches the check of GrantTokens. */
  private static final String GRANT_TOKENS = "GrantTokens";
  private static final TypeReference<List<String>> STRINGS = new TypeReference<>() {};

  private final ObjectMapper mapper = mapper();
  // A reader and a writer per type, made once: making one per request (a new configuration, the
  // root type's lookup) cost more than reading a small request.
  private final ClassValue<ObjectReader> readers;
  private final ClassValue<ObjectWriter> writers = new ClassValue<>() {
    @Override
    protected ObjectWriter computeValue(Class<?> type) {
      return mapper.writerFor(type);
    }
  };

  /** @param grantTokens checks a request's GrantTokens, throwing its KmsException if one is not valid */
  WireJson(Consumer<List<String>> grantTokens) {
    readers = new ClassValue<>() {
      @Override
      protected ObjectReader computeValue(Class<?> type) {
        return mapper.readerFor(type).withAttribute(GRANT_TOKENS, grantTokens);
      }
    };
  }

  /**
   * The request record {@code body} holds. A body that is not a JSON object, or has a member of the
   * wrong type, is a SerializationException whose message names the member, never its value (a
   * plaintext, a password).
   *
   * @throws WireException SerializationException, or the error of a member's own check (a password's
   *     length, a member refused)
   */
  <R> R read(byte[] body, Class<R> type) {
    if (body.length == 0) {
      throw new WireException(SerializationException, "The request body is empty: an operation without input takes {}.");
    }
    R request;
    try {
      request = readers.get(type).readValue(body);
    } catch (JsonProcessingException e) {
      if (e.getCause() instanceof KmsException check) {
        throw check;
      }
      throw new WireException(SerializationException, serializationMessage(e));
    } catch (IOException e) {
      throw new UncheckedIOException("reading an array failed", e); // cannot happen
    }
    if (request == null) {
      throw new WireException(SerializationException, "The request body must be a JSON object, not null.");
    }
    return request;
  }

  /** {@code value} (a response record, a map of members, an error) as JSON. */
  byte[] write(Object value) {
    try {
      return writers.get(value.getClass()).writeValueAsBytes(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write a " + value.getClass().getSimpleName(), e);
    }
  }

  private static String serializationMessage(JsonProcessingException e) {
    if (e instanceof JsonMappingException mapping && !mapping.getPath().isEmpty()) {
      boolean blob = e instanceof InvalidFormatException invalid && invalid.getTargetType() == byte[].class;
      return "The value of " + path(mapping.getPath()) + (blob ? " is not valid base64." : " has the wrong type.");
    }
    JsonLocation location = e.getLocation();
    return "The request body is not a valid JSON object"
        + (location == null ? "." : " (line " + location.getLineNr() + ", column " + location.getColumnNr() + ").");
  }

  /** A member's place as the caller wrote it: {@code Tags[0].TagKey}. */
  private static String path(List<JsonMappingException.Reference> references) {
    return references.stream()
        .map(reference -> reference.getFieldName() != null ? "." + reference.getFieldName()
            : "[" + reference.getIndex() + "]")
        .collect(Collectors.joining()).substring(1);
  }

  /** The mapper; for the tests, which compare its member names with the AWS SDK's. */
  static ObjectMapper mapper() {
    JsonMapper mapper = JsonMapper.builder()
        .propertyNamingStrategy(PropertyNamingStrategies.UPPER_CAMEL_CASE)
        .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
        .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .serializationInclusion(JsonInclude.Include.NON_NULL)
        // A null in a map or list (an encryption context value, a tag key to remove) is malformed.
        .defaultSetterInfo(JsonSetter.Value.forContentNulls(Nulls.FAIL))
        .addMixIn(KeyMetadata.class, KeyMetadataMixIn.class)
        .addMixIn(CreateKeyRequest.class, CreateKeyRequestMixIn.class)
        // Members read and written through generated accessors rather than reflection, per request.
        .addModule(new BlackbirdModule())
        .addModule(new SimpleModule("awsJson1_1")
            .addDeserializer(byte[].class, new BlobDeserializer())
            .addDeserializer(Pin.class, new PasswordDeserializer())
            .addSerializer(Instant.class, new EpochSecondsSerializer())
            .addSerializer(new OptionalSerializer()))
        .addHandler(new RefusedMembers())
        .build();
    // An empty Optional is an absent member.
    mapper.configOverride(Optional.class).setInclude(JsonInclude.Value.construct(
        JsonInclude.Include.NON_EMPTY, JsonInclude.Include.NON_EMPTY));
    refuse(mapper, LogicalType.Textual, CoercionInputShape.Integer, CoercionInputShape.Float,
        CoercionInputShape.Boolean);
    refuse(mapper, LogicalType.Integer, CoercionInputShape.String, CoercionInputShape.EmptyString,
        CoercionInputShape.Float, CoercionInputShape.Boolean);
    refuse(mapper, LogicalType.Boolean, CoercionInputShape.String, CoercionInputShape.EmptyString,
        CoercionInputShape.Integer, CoercionInputShape.Float);
    return mapper;
  }

  /** Makes a {@code target} member given as any of {@code shapes} an error rather than a conversion. */
  private static void refuse(ObjectMapper mapper, LogicalType target, CoercionInputShape... shapes) {
    for (CoercionInputShape shape : shapes) {
      mapper.coercionConfigFor(target).setCoercion(shape, CoercionAction.Fail);
    }
  }

  /** AWS spells the account member {@code AWSAccountId}, which no naming strategy derives. */
  private abstract static class KeyMetadataMixIn {
    @JsonProperty("AWSAccountId")
    abstract String awsAccountId();
  }

  /** {@code CustomerMasterKeySpec} is the deprecated name of {@code KeySpec}; clients still send it. */
  private abstract static class CreateKeyRequestMixIn {
    @JsonAlias("CustomerMasterKeySpec")
    @SuppressWarnings("UnusedMethod") // Jackson reads the mix-in's annotations reflectively
    abstract String keySpec();
  }

  /** A blob: a base64 string, nothing else (Jackson alone would also take an array of numbers). */
  private static final class BlobDeserializer extends JsonDeserializer<byte[]> {
    @Override
    public byte[] deserialize(JsonParser p, DeserializationContext context) throws IOException {
      if (!p.hasToken(JsonToken.VALUE_STRING)) {
        return (byte[]) context.handleUnexpectedToken(byte[].class, p);
      }
      try {
        return Base64.getDecoder().decode(p.getText());
      } catch (IllegalArgumentException e) {
        throw new InvalidFormatException(p, "not base64", null, byte[].class); // the text not kept: it may be secret
      }
    }
  }

  /**
   * {@code KeyStorePassword}: read straight into a {@link Pin}, checked for AWS's 7 to 32 characters
   * first (a Pin cannot be empty), without ever echoing it.
   */
  private static final class PasswordDeserializer extends JsonDeserializer<Pin> {
    @Override
    public Pin deserialize(JsonParser p, DeserializationContext context) throws IOException {
      if (!p.hasToken(JsonToken.VALUE_STRING)) {
        return (Pin) context.handleUnexpectedToken(Pin.class, p);
      }
      char[] text = Arrays.copyOfRange(p.getTextCharacters(), p.getTextOffset(), p.getTextOffset() + p.getTextLength());
      try {
        Validation.sensitiveLength(new String(text), "keyStorePassword", 7, 32);
        return Pin.of(text);
      } finally {
        Arrays.fill(text, '\0');
      }
    }
  }

  /** A timestamp: epoch seconds, milliseconds as the fraction. */
  private static final class EpochSecondsSerializer extends StdSerializer<Instant> {
    EpochSecondsSerializer() {
      super(Instant.class);
    }

    @Override
    public void serialize(Instant value, JsonGenerator gen, SerializerProvider provider) throws IOException {
      gen.writeNumber(BigDecimal.valueOf(value.toEpochMilli(), 3));
    }
  }

  /** kms-core's optional members: the value when present; an empty one is left out (see the inclusion above). */
  @SuppressWarnings("rawtypes")
  private static final class OptionalSerializer extends StdSerializer<Optional> {
    OptionalSerializer() {
      super(Optional.class);
    }

    @Override
    public void serialize(Optional value, JsonGenerator gen, SerializerProvider provider) throws IOException {
      provider.defaultSerializeValue(value.orElse(null), gen);
    }

    @Override
    public boolean isEmpty(SerializerProvider provider, Optional value) {
      return value.isEmpty();
    }
  }

  /**
   * Members Keyhold does not serve, and must not skip: {@code DryRun} asks that nothing be done (the
   * operations that have it in AWS's model read it; any other is refused rather than run),
   * {@code Recipient} that a plaintext go out only encrypted to an enclave, and a grant's service
   * principals and {@code SourceArn} constraint narrow or change whom it lets in.
   */
  private static final class RefusedMembers extends DeserializationProblemHandler {
    @Override
    @SuppressWarnings("unchecked") // the attribute is set by read(), to a check of a list of strings
    public boolean handleUnknownProperty(DeserializationContext context, JsonParser p,
        JsonDeserializer<?> deserializer, Object beanOrClass, String propertyName) throws IOException {
      if (propertyName.equals(GRANT_TOKENS) && context.getAttribute(GRANT_TOKENS) != null) {
        List<String> tokens = context.readValue(p, context.getTypeFactory().constructType(STRINGS));
        if (tokens != null) { // null is an absent member
          ((Consumer<List<String>>) context.getAttribute(GRANT_TOKENS)).accept(tokens);
        }
        return true;
      }
      boolean refused = switch (propertyName) {
        case "DryRun" -> p.hasToken(JsonToken.VALUE_TRUE);
        case "Recipient", "GranteeServicePrincipal", "RetiringServicePrincipal", "SourceArn" ->
            !p.hasToken(JsonToken.VALUE_NULL);
        default -> false;
      };
      if (refused) {
        throw new KmsException(UnsupportedOperationException, "Keyhold does not support " + propertyName + ".");
      }
      p.skipChildren();
      return true;
    }
  }
}
