// The frame every dashboard shares: tags, links between the sidecar-monitor dashboards,
// refresh and time range, rows of panels, and panel ids that stay stable as long as the
// panel order does (Grafana uses them in links and in "view panel" URLs).
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  RowBuilder,
  type Dashboard,
  type Panel,
  type RowPanel,
  type VariableModel,
} from '@grafana/grafana-foundation-sdk/dashboard';

export const TAG = 'sidecar-monitor';

/**
 * The classic dashboard JSON model (`schemaVersion`). The SDK marks it deprecated in favour
 * of dashboard v2, but the classic model is what Grafana's file provisioning and the
 * kube-prometheus-stack dashboard sidecar load on every Grafana version, and what the
 * schema in ../shared/fixtures/grafana describes; v2 needs Grafana 12's new API.
 */
// eslint-disable-next-line @typescript-eslint/no-deprecated -- see above
export type ClassicDashboard = Dashboard;

export interface Section {
  readonly title: string;
  readonly panels: readonly cog.Builder<Panel>[];
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly variables: readonly cog.Builder<VariableModel>[];
  readonly sections: readonly Section[];
}

export function buildDashboard(spec: DashboardSpec): ClassicDashboard {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- see ClassicDashboard
  const b = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags([TAG])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .time({ from: 'now-1h', to: 'now' })
    .refresh('30s')
    .timezone('browser')
    .link(
      new DashboardLinkBuilder('sidecar-monitor')
        .type(DashboardLinkType.Dashboards)
        .tags([TAG])
        .asDropdown(true)
        .icon('external link')
        .tooltip('Other sidecar-monitor dashboards')
        .includeVars(true)
        .keepTime(true)
        .targetBlank(false),
    );
  for (const v of spec.variables) b.withVariable(v);
  for (const section of spec.sections) {
    b.withRow(new RowBuilder(section.title));
    for (const panel of section.panels) b.withPanel(panel);
  }
  const dashboard = b.build();
  let id = 0;
  for (const panel of dashboard.panels ?? []) {
    panel.id = ++id;
    for (const inner of (panel as Partial<RowPanel>).panels ?? []) inner.id = ++id;
  }
  return dashboard;
}
