package dev.keyhold.bench.harness;

import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.google.common.io.Resources;
import java.io.IOException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a run's {@link Results} into a directory: {@code results.csv} (one row per point),
 * {@code results.json} (everything, with the run's machine and settings) and {@code report.html}, a
 * single self-contained page with the charts, drawn by uPlot, whose code and styles are inlined from
 * its WebJar: it opens from the file system with no server and no network.
 */
final class ResultFiles {
  static final String CSV = "results.csv";
  static final String JSON = "results.json";
  static final String HTML = "report.html";

  private static final String UPLOT = "META-INF/resources/webjars/uplot/1.6.30/dist/";
  private static final JsonMapper JSON_MAPPER =
      JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
  private static final CsvMapper CSV_MAPPER = new CsvMapper();

  private ResultFiles() {}

  static void write(Results results, Path directory) throws IOException {
    Files.createDirectories(directory);
    CSV_MAPPER.writer(CSV_MAPPER.schemaFor(Results.Point.class).withHeader())
        .writeValue(directory.resolve(CSV).toFile(), results.points());
    JSON_MAPPER.writeValue(directory.resolve(JSON).toFile(), results);
    Files.writeString(directory.resolve(HTML), html(results), StandardCharsets.UTF_8);
  }

  /** The results a run wrote into {@code directory}. */
  static Results read(Path directory) throws IOException {
    return JSON_MAPPER.readValue(directory.resolve(JSON).toFile(), Results.class);
  }

  private static String html(Results results) throws IOException {
    // "</" would end the <script> element that holds the figures; JSON lets it be written "<\/".
    String figures = JSON_MAPPER.writeValueAsString(results).replace("</", "<\\/");
    return resource(ResultFiles.class.getResource("report-template.html"))
        .replace("/*UPLOT_CSS*/", resource(Resources.getResource(UPLOT + "uPlot.min.css")))
        .replace("/*UPLOT_JS*/", resource(Resources.getResource(UPLOT + "uPlot.iife.min.js")))
        .replace("/*RESULTS*/", figures);
  }

  private static String resource(URL url) throws IOException {
    return Resources.toString(url, StandardCharsets.UTF_8);
  }
}
