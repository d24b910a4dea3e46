import { formatByteSize, type Quota, type QuotaLimit, type QuotaReport } from '../../registry/index.js';
import type { QuayDeps } from './plugin.js';

/** A limit as Quay shows it (endpoints/api/namespacequota.py limit_view). */
export const limitView = (limit: QuotaLimit) => ({
  id: limit.id,
  type: limit.type,
  limit_percent: limit.thresholdPercent,
});

/** A quota as the quota endpoints show it; no system default quota is configured, hence the `default_config*` flags. */
export const quotaView = (quota: Quota) => ({
  id: quota.id,
  limit_bytes: quota.limitBytes,
  limit: formatByteSize(quota.limitBytes),
  default_config: false,
  limits: quota.limits.map(limitView),
  default_config_exists: false,
});

/** The shorter quota entry of user and organization views (`quotas`). */
export const quotaSummaryView = (quota: Quota) => ({
  id: quota.id,
  limit_bytes: quota.limitBytes,
  limits: quota.limits.map(limitView),
});

/** Quay's `quota_report`: usage is computed on demand, so there is never a backfill running. */
export const quotaReportView = (report: QuotaReport) => ({
  quota_bytes: report.usageBytes,
  configured_quota: report.configuredBytes,
  running_backfill: 'complete',
  backfill_status: 'complete',
});

/** `quotas` and `quota_report`, as the user, organization and superuser views of a namespace carry them. */
export async function namespaceQuotaFields(deps: QuayDeps, namespace: string) {
  const [quotas, report] = await Promise.all([deps.quotas.list(namespace), deps.quotas.report(namespace)]);
  return { quotas: quotas.map(quotaSummaryView), quota_report: quotaReportView(report) };
}

/**
 * Quay's `quota_report` of each repository in the repository list (add_quota_view): what the
 * repository stores and the quota of its namespace (null without one), keyed by repository id.
 */
export async function repositoryQuotaReports(
  deps: QuayDeps,
  repositories: Array<{ id: string; namespace: string }>,
): Promise<Map<string, { quota_bytes: number; configured_quota: number | null }>> {
  const sizes = await deps.namespaces.repositorySizes(repositories.map((r) => r.id));
  const configured = new Map<string, number | null>();
  for (const namespace of new Set(repositories.map((r) => r.namespace))) {
    const [quota] = await deps.quotas.list(namespace);
    configured.set(namespace, quota?.limitBytes ?? null);
  }
  return new Map(
    repositories.map((r) => [
      r.id,
      { quota_bytes: sizes.get(r.id) ?? 0, configured_quota: configured.get(r.namespace) ?? null },
    ]),
  );
}
