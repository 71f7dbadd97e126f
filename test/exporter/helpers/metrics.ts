// The demo's reader of the text format is strict enough for assertions: tests use the same one.
export { Metrics, parseMetrics, scrape, type Sample } from '../../../examples/demo/prom-text.ts';
