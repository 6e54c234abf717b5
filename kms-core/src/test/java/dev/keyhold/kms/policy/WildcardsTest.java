package dev.keyhold.kms.policy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class WildcardsTest {
  @Test
  void starMatchesAnyRunAndQuestionMarkOneCharacter() {
    assertThat(Wildcards.matches("kms:*", "kms:encrypt")).isTrue();
    assertThat(Wildcards.matches("*", "")).isTrue();
    assertThat(Wildcards.matches("kms:generate*", "kms:generatedatakey")).isTrue();
    assertThat(Wildcards.matches("kms:generate*", "kms:encrypt")).isFalse();
    assertThat(Wildcards.matches("kms:?ncrypt", "kms:encrypt")).isTrue();
    assertThat(Wildcards.matches("kms:?ncrypt", "kms:decrypt")).isFalse();
    assertThat(Wildcards.matches("a?", "a")).isFalse();
    assertThat(Wildcards.matches("abc", "abcd")).isFalse();
  }

  @Test
  void aStarGivesBackWhatALaterPartNeeds() {
    assertThat(Wildcards.matches("a*b*c", "aXbYbZc")).isTrue();
    assertThat(Wildcards.matches("*key/*-prod", "key/one-prod-key/two-prod")).isTrue();
    assertThat(Wildcards.matches("a*b*c", "aXbYbZ")).isFalse();
    assertThat(Wildcards.matches("**?", "")).isFalse();
  }

  @Test
  void isCaseSensitive() {
    assertThat(Wildcards.matches("Backup*", "backup-1")).isFalse();
  }

  @Test
  void arnWildcardsStayInsideTheirPart() {
    String key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd";
    assertThat(Wildcards.arnMatches("*", key)).isTrue();
    assertThat(Wildcards.arnMatches("arn:aws:kms:*:111122223333:key/*", key)).isTrue();
    assertThat(Wildcards.arnMatches("arn:aws:kms:us-east-?:*:*", key)).isTrue();
    assertThat(Wildcards.arnMatches("arn:aws:kms:*:444455556666:key/*", key)).isFalse();
    // One '*' cannot stand for the Region, account and resource together.
    assertThat(Wildcards.arnMatches("arn:aws:kms:*", key)).isFalse();
    assertThat(Wildcards.arnMatches("arn:aws:kms:us-east-1:111122223333:alias/*", key)).isFalse();
  }

  @Test
  void theResourcePartMayHoldColons() {
    assertThat(Wildcards.arnMatches(
        "arn:aws:kms:us-east-1:111122223333:alias/team:*", "arn:aws:kms:us-east-1:111122223333:alias/team:blue"))
        .isTrue();
  }
}
