/**
 * `volley/metrics`: Prometheus text exposition of `wss.metrics()` and a `/metrics`
 * request handler, with no dependency.
 *
 * @example
 * import { metricsHandler } from 'volley/metrics';
 * http.createServer(metricsHandler(wss)).listen(9100);
 */
export {
  PROMETHEUS_CONTENT_TYPE,
  PING_RTT_BUCKETS_MS,
  escapeLabelValue,
  metricFamilies,
  metricsHandler,
  renderExposition,
  renderMetrics,
} from './prometheus.js';
export type { ExpositionOptions, LabelledSource, MetricFamily, MetricSample, MetricType, MetricsSource } from './prometheus.js';
export { MetricsRecorder, mergeSnapshots } from './recorder.js';
export type { MetricsSnapshot, RttSummary } from './recorder.js';
