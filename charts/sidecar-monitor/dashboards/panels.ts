// Panel factories shared by every dashboard, so all of them look and behave alike: one
// datasource variable, Prometheus queries with legends, units in base units, and no
// per-panel styling drift. Each factory takes plain data (title, queries, unit) and returns
// an SDK builder; the dashboards only say what to show.
import type * as common from '@grafana/grafana-foundation-sdk/common';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  BigValueColorMode,
  BigValueGraphMode,
  GraphDrawStyle,
  LegendDisplayMode,
  LegendPlacement,
  SortOrder,
  StackingMode,
  TooltipDisplayMode,
  VizLegendOptionsBuilder,
  VizTooltipOptionsBuilder,
  ReduceDataOptionsBuilder,
  StackingConfigBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type DynamicConfigValue,
  type Panel,
} from '@grafana/grafana-foundation-sdk/dashboard';
import {
  HeatmapColorOptionsBuilder,
  HeatmapColorMode,
  HeatmapColorScale,
  PanelBuilder as HeatmapPanelBuilder,
  YAxisConfigBuilder,
} from '@grafana/grafana-foundation-sdk/heatmap';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanelBuilder } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** Every panel queries the data source the dashboard's `datasource` variable selects. */
export const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

export interface Query {
  readonly expr: string;
  /** Grafana legend template, e.g. `{{pod}} / {{container}}`. */
  readonly legend: string;
  /** Evaluate once at the end of the range (stat and table panels). */
  readonly instant?: boolean;
  readonly format?: 'time_series' | 'table' | 'heatmap';
}

/** Grafana unit ids. `short` is a plain number (cores, counts). */
export type Unit = 'short' | 'bytes' | 'Bps' | 'ops' | 's' | 'percentunit' | 'reqps' | 'none';

export interface PanelSpec {
  readonly title: string;
  /** Shown as the panel's (i) tooltip: what it shows and what to do about it. */
  readonly description: string;
  readonly queries: readonly Query[];
  readonly unit: Unit;
  /** Grid width out of 24 (default 12) and height in rows (default 8). */
  readonly width?: number;
  readonly height?: number;
}

export interface TimeseriesSpec extends PanelSpec {
  readonly min?: number;
  readonly max?: number;
  readonly stacked?: boolean;
  readonly bars?: boolean;
  /** Series whose display name matches get a dashed line and no fill (requests, limits). */
  readonly referenceLines?: string;
}

const REF_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function refId(i: number): string {
  const id = REF_IDS[i];
  if (id === undefined) throw new Error(`a panel has at most ${REF_IDS.length} queries`);
  return id;
}

function target(q: Query, i: number): DataqueryBuilder {
  const b = new DataqueryBuilder()
    .datasource(DATASOURCE)
    .refId(refId(i))
    .expr(q.expr)
    .legendFormat(q.legend);
  if (q.instant === true) b.instant();
  else b.range();
  if (q.format === 'table') b.format(PromQueryFormat.Table);
  if (q.format === 'heatmap') b.format(PromQueryFormat.Heatmap);
  return b;
}

function legend(): VizLegendOptionsBuilder {
  return new VizLegendOptionsBuilder()
    .displayMode(LegendDisplayMode.Table)
    .placement(LegendPlacement.Bottom)
    .showLegend(true)
    .calcs(['mean', 'max', 'lastNotNull']);
}

function tooltip(): VizTooltipOptionsBuilder {
  return new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending);
}

function green(): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps([{ value: null, color: 'green' }]);
}

const DASHED: DynamicConfigValue[] = [
  { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
  { id: 'custom.fillOpacity', value: 0 },
  { id: 'custom.stacking', value: { mode: StackingMode.None, group: 'A' } },
];

export function timeseries(spec: TimeseriesSpec): cog.Builder<Panel> {
  const b = new TimeseriesPanelBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .span(spec.width ?? 12)
    .height(spec.height ?? 8)
    .targets(spec.queries.map(target))
    .legend(legend())
    .tooltip(tooltip())
    .thresholds(green())
    .lineWidth(1)
    .fillOpacity(spec.stacked === true ? 40 : 10)
    .drawStyle(spec.bars === true ? GraphDrawStyle.Bars : GraphDrawStyle.Line);
  if (spec.min !== undefined) b.min(spec.min);
  if (spec.max !== undefined) b.max(spec.max);
  if (spec.stacked === true) {
    b.stacking(new StackingConfigBuilder().mode(StackingMode.Normal).group('A'));
  }
  if (spec.referenceLines !== undefined) b.overrideByRegexp(spec.referenceLines, DASHED);
  return b;
}

export interface StatSpec extends PanelSpec {
  /** Thresholds after the base (green) colour: value and colour, ascending. */
  readonly thresholds?: readonly { value: number; color: string }[];
}

export function stat(spec: StatSpec): cog.Builder<Panel> {
  return new StatPanelBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .span(spec.width ?? 6)
    .height(spec.height ?? 4)
    .targets(spec.queries.map(target))
    .graphMode(BigValueGraphMode.Area)
    .colorMode(BigValueColorMode.Value)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .thresholds(
      new ThresholdsConfigBuilder()
        .mode(ThresholdsMode.Absolute)
        .steps([{ value: null, color: 'green' }, ...(spec.thresholds ?? [])]),
    );
}

/** One table row per series of an instant query; the Value column is renamed. */
export function table(spec: PanelSpec & { readonly valueName: string }): cog.Builder<Panel> {
  return new TablePanelBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .span(spec.width ?? 12)
    .height(spec.height ?? 8)
    .targets(spec.queries.map((q, i) => target({ ...q, instant: true, format: 'table' }, i)))
    .thresholds(green())
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true },
        renameByName: { Value: spec.valueName },
      },
    });
}

/** A heatmap of a Prometheus histogram's buckets (the query must return `le` series). */
export function heatmap(spec: PanelSpec): cog.Builder<Panel> {
  return new HeatmapPanelBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .span(spec.width ?? 12)
    .height(spec.height ?? 8)
    .targets(spec.queries.map((q, i) => target({ ...q, format: 'heatmap' }, i)))
    .calculate(false)
    .color(
      new HeatmapColorOptionsBuilder()
        .mode(HeatmapColorMode.Scheme)
        .scheme('Oranges')
        .scale(HeatmapColorScale.Exponential)
        .exponent(0.5)
        .steps(64)
        .reverse(false),
    )
    .yAxis(new YAxisConfigBuilder().unit(spec.unit).decimals(0));
}
