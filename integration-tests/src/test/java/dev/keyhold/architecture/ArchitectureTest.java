package dev.keyhold.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaConstructorCall;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.ReachesIntoTheServer;
import dev.keyhold.kms.key.KeyGrants;
import dev.keyhold.kms.key.KeyReplication;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.server.KeyholdServer;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The module and package rules of docs/architecture.md, checked on the classes of every module's
 * main jar (tests, fixtures and test-jars are not checked). Maven's Enforcer holds the same edges
 * for the modules' dependencies; these rules hold them for the code, where a class could reach past
 * its module through a transitive dependency.
 */
class ArchitectureTest {
  /** The adapter is a PKCS#11 library that knows nothing of KMS. */
  static final ArchRule ADAPTER_KNOWS_NOTHING_OF_KMS = noClasses().that().resideInAPackage("dev.keyhold.pkcs11..")
      .should().dependOnClassesThat().resideInAnyPackage("dev.keyhold.cluster..", "dev.keyhold.kms..",
          "dev.keyhold.softhsm..", "dev.keyhold.shims..", "dev.keyhold.server..", "dev.keyhold.app..");

  /** Only the adapter touches the IAIK wrapper's classes. */
  static final ArchRule ONLY_THE_ADAPTER_SEES_THE_WRAPPER = noClasses().that()
      .resideOutsideOfPackage("dev.keyhold.pkcs11..")
      .should().dependOnClassesThat().resideInAnyPackage("org.xipki.pkcs11..", "iaik.pkcs.pkcs11..");

  /** The cluster model stands on the adapter alone, so that provisioning and the core can share it. */
  static final ArchRule CLUSTER_MODEL_STANDS_ON_THE_ADAPTER = noClasses().that().resideInAPackage("dev.keyhold.cluster..")
      .should().dependOnClassesThat().resideInAnyPackage("dev.keyhold.kms..", "dev.keyhold.softhsm..",
          "dev.keyhold.shims..", "dev.keyhold.server..", "dev.keyhold.app..");

  /** Provisioning uses the adapter and the cluster model, never the service. */
  static final ArchRule PROVISIONING_IS_NOT_THE_SERVICE = noClasses().that().resideInAPackage("dev.keyhold.softhsm..")
      .should().dependOnClassesThat().resideInAnyPackage("dev.keyhold.kms..", "dev.keyhold.shims..",
          "dev.keyhold.server..", "dev.keyhold.app..");

  /** The core never depends on the server, the application, provisioning or the test shims, nor speaks HTTP. */
  static final ArchRule CORE_STAYS_BELOW_THE_SERVER = noClasses().that().resideInAPackage("dev.keyhold.kms..")
      .should().dependOnClassesThat().resideInAnyPackage("dev.keyhold.server..", "dev.keyhold.app..",
          "dev.keyhold.softhsm..", "dev.keyhold.shims..", "dev.keyhold.postgres..", "io.undertow..",
          "software.amazon.awssdk..");

  /** The server serves the core; it provisions nothing and carries no shim. */
  static final ArchRule SERVER_SERVES_THE_CORE = noClasses().that().resideInAPackage("dev.keyhold.server..")
      .should().dependOnClassesThat().resideInAnyPackage("dev.keyhold.softhsm..", "dev.keyhold.shims..",
          "dev.keyhold.postgres..", "dev.keyhold.app..");

  /** The application runs the service; the fault shims and the throwaway PostgreSQL are for tests and drills only. */
  static final ArchRule APPLICATION_CARRIES_NO_SHIM = noClasses().that().resideInAPackage("dev.keyhold.app..")
      .should().dependOnClassesThat().resideInAnyPackage("dev.keyhold.shims..", "dev.keyhold.postgres..");

  private static final Set<String> CORE_SERVICES = Set.of(KmsKeys.class.getName(), KmsCrypto.class.getName(),
      KeyGrants.class.getName(), KeyReplication.class.getName(), CustomKeyStores.class.getName(),
      KeyStoreConnections.class.getName());

  /** kms-core's services are wired in one place. */
  static final ArchRule ONE_COMPOSITION_ROOT = noClasses().that().doNotHaveFullyQualifiedName(Keyhold.class.getName())
      .should().callConstructorWhere(DescribedPredicate.describe("a constructor of kms-core's services",
          (JavaConstructorCall call) -> CORE_SERVICES.contains(call.getTargetOwner().getName())
              && !call.getOriginOwner().equals(call.getTargetOwner())));

  private static JavaClasses mainClasses;

  @BeforeAll
  static void importMainClasses() {
    ImportOption mainJarsOnly = location -> !location.contains("/test-classes/") && !location.contains("-tests.jar");
    mainClasses = new ClassFileImporter().withImportOption(mainJarsOnly).importPackages("dev.keyhold");
  }

  @Test
  void everyModuleIsThere() {
    assertThat(Stream.of("dev.keyhold.pkcs11", "dev.keyhold.cluster", "dev.keyhold.softhsm", "dev.keyhold.kms",
        "dev.keyhold.server", "dev.keyhold.app"))
        .allSatisfy(name -> assertThat(mainClasses.containPackage(name)).as(name).isTrue());
    assertThat(mainClasses.contain(ReachesIntoTheServer.class)).as("test classes are not checked").isFalse();
  }

  @Test
  void theAdapterKnowsNothingOfKms() {
    ADAPTER_KNOWS_NOTHING_OF_KMS.check(mainClasses);
  }

  @Test
  void onlyTheAdapterSeesTheWrapper() {
    ONLY_THE_ADAPTER_SEES_THE_WRAPPER.check(mainClasses);
  }

  @Test
  void theClusterModelStandsOnTheAdapter() {
    CLUSTER_MODEL_STANDS_ON_THE_ADAPTER.check(mainClasses);
  }

  @Test
  void provisioningIsNotTheService() {
    PROVISIONING_IS_NOT_THE_SERVICE.check(mainClasses);
  }

  @Test
  void theCoreStaysBelowTheServer() {
    CORE_STAYS_BELOW_THE_SERVER.check(mainClasses);
  }

  @Test
  void theServerServesTheCore() {
    SERVER_SERVES_THE_CORE.check(mainClasses);
  }

  @Test
  void theApplicationCarriesNoShim() {
    APPLICATION_CARRIES_NO_SHIM.check(mainClasses);
  }

  @Test
  void kmsCoreIsWiredInOnePlace() {
    ONE_COMPOSITION_ROOT.check(mainClasses);
  }

  /** The rules are not vacuous: a core class that reaches into the server, or wires the core itself, breaks them. */
  @Test
  void aWrongDependencyBreaksTheRules() {
    JavaClasses wrong = new ClassFileImporter().importClasses(ReachesIntoTheServer.class, KeyholdServer.class,
        KmsCrypto.class, KmsKeys.class);

    assertThat(CORE_STAYS_BELOW_THE_SERVER.evaluate(wrong).hasViolation()).isTrue();
    assertThat(ONE_COMPOSITION_ROOT.evaluate(wrong).hasViolation()).isTrue();
    assertThat(CORE_STAYS_BELOW_THE_SERVER.evaluate(wrong).getFailureReport().getDetails())
        .anyMatch(line -> line.contains(ReachesIntoTheServer.class.getName()) && line.contains("KeyholdServer"));
  }
}
