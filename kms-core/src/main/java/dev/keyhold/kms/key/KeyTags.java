package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.KMSInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.TagException;
import static dev.keyhold.kms.error.Validation.range;
import static dev.keyhold.kms.error.Validation.required;
import static dev.keyhold.kms.error.Validation.text;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Page;
import dev.keyhold.kms.metadata.MetadataStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/** TagResource, UntagResource and ListResourceTags for KMS keys, with AWS's limits and messages. */
public final class KeyTags {
  private static final int MAX_TAGS = 50;

  private final MetadataStore metadata;
  private final KeyRecords keys;

  KeyTags(MetadataStore metadata, KeyRecords keys) {
    this.metadata = metadata;
    this.keys = keys;
  }

  /** TagResource: adds tags, replacing the value of a key that is already there. */
  public void tagResource(String keyId, List<Tag> tags) {
    checkTags(tags);
    String id = keys.keyIdOf(keyId);
    metadata.inTransaction(c -> {
      KeyRecord key = writable(c, id);
      Set<String> present = new HashSet<>();
      tags(c, key.keyId()).forEach(tag -> present.add(tag.tagKey()));
      long added = tags.stream().filter(tag -> !present.contains(tag.tagKey())).count();
      if (present.size() + added > MAX_TAGS) {
        throw new KmsException(TagException, "Too many tags");
      }
      for (Tag tag : tags) {
        delete(c, key.keyId(), tag.tagKey());
      }
      insert(c, key, tags);
      return null;
    });
  }

  /** UntagResource: removes the named tags; a name that is not there is no error. */
  public void untagResource(String keyId, List<String> tagKeys) {
    required(tagKeys, "tagKeys");
    String id = keys.keyIdOf(keyId);
    metadata.inTransaction(c -> {
      writable(c, id);
      for (String tagKey : tagKeys) {
        delete(c, id, tagKey);
      }
      return null;
    });
  }

  /** ListResourceTags, in any key state; Limit 1 to 50 (default 50), sorted by tag key. */
  public ListResourceTagsResponse listResourceTags(String keyId, Integer limit, String marker) {
    int pageSize = Optional.ofNullable(range(limit, "limit", 1, 50)).orElse(MAX_TAGS);
    ResolvedKey key = keys.resolve(keyId);
    List<Tag> all = metadata.inTransaction(c -> tags(c, key.keyId()));
    Page<Tag> page = Page.of(all, Tag::tagKey, pageSize, marker);
    return new ListResourceTagsResponse(page.items(), page.nextMarker(), page.truncated());
  }

  /** The checks of a Tags member (TagResource's, and CreateKey's). */
  static void checkTags(List<Tag> tags) {
    required(tags, "tags");
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < tags.size(); i++) {
      Tag tag = tags.get(i);
      String path = "tags." + (i + 1) + ".member.";
      text(required(tag.tagKey(), path + "tagKey"), path + "tagKey", 1, 128);
      text(required(tag.tagValue(), path + "tagValue"), path + "tagValue", 0, 256);
      if (tag.tagKey().toLowerCase(Locale.ROOT).startsWith("aws:")) {
        throw new KmsException(TagException, "Tags beginning with aws: are reserved");
      }
      if (!seen.add(tag.tagKey())) {
        throw new KmsException(TagException, "Duplicate tag keys");
      }
    }
    if (tags.size() > MAX_TAGS) {
      throw new KmsException(TagException, "Too many tags");
    }
  }

  /** Adds {@code tags} (checked, none present yet) to {@code key}, in the caller's transaction. */
  static void insert(Connection c, KeyRecord key, List<Tag> tags) throws SQLException {
    for (Tag tag : tags) {
      try (PreparedStatement insert =
          c.prepareStatement("INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)")) {
        insert.setString(1, key.keyId());
        insert.setString(2, tag.tagKey());
        insert.setString(3, tag.tagValue());
        insert.executeUpdate();
      }
    }
  }

  /** The key as it is now, locked for the caller's transaction, if tags may change on it. */
  private KeyRecord writable(Connection c, String keyId) throws SQLException {
    KeyRecord key = keys.current(c, keyId);
    if (key.state() == KeyState.PendingDeletion) {
      throw new KmsException(KMSInvalidStateException, key.arn() + " is pending deletion.");
    }
    return key;
  }

  private static List<Tag> tags(Connection c, String keyId) throws SQLException {
    try (PreparedStatement select = c.prepareStatement(
        "SELECT tag_key, tag_value FROM key_tags WHERE key_id = ? ORDER BY tag_key")) {
      select.setString(1, keyId);
      try (ResultSet rows = select.executeQuery()) {
        List<Tag> tags = new ArrayList<>();
        while (rows.next()) {
          tags.add(new Tag(rows.getString(1), rows.getString(2)));
        }
        return tags;
      }
    }
  }

  private static void delete(Connection c, String keyId, String tagKey) throws SQLException {
    try (PreparedStatement delete = c.prepareStatement("DELETE FROM key_tags WHERE key_id = ? AND tag_key = ?")) {
      delete.setString(1, keyId);
      delete.setString(2, tagKey);
      delete.executeUpdate();
    }
  }
}
