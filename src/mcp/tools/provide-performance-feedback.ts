/**
 * provide_performance_feedback: the buyer tells the seller how a media buy (or
 * one package or creative) performed over a period, as an index where 1.0 is
 * the expected performance. Stored for the seller's optimisation; idempotency-keyed.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { recordPerformanceFeedback } from '../../db/queries/delivery.js';
import { AdcpError } from '../../domain/errors.js';
import { fromUnits, toUnits } from '../../domain/money.js';
import { defineTool } from '../define-tool.js';
import { idempotentMutation } from '../idempotency.js';

interface Input {
  media_buy_id: string;
  measurement_period: { start: string; end: string };
  performance_index: number;
  package_id?: string;
  creative_id?: string;
  metric_type?: string;
  feedback_source?: string;
  idempotency_key?: string;
  [k: string]: unknown;
}

const NOT_FOUND = {
  media_buy_not_found: ['MEDIA_BUY_NOT_FOUND', 'media_buy_id', 'Use a media_buy_id returned by create_media_buy or get_media_buys.'],
  package_not_found: ['PACKAGE_NOT_FOUND', 'package_id', 'Use a package_id of this media buy (see get_media_buys).'],
  creative_not_found: ['CREATIVE_NOT_FOUND', 'creative_id', 'Use a creative_id you uploaded with sync_creatives.'],
} as const;

export default defineTool({
  name: 'provide_performance_feedback',
  title: 'Provide performance feedback',
  description:
    'Report how a media buy performed: media_buy_id, measurement_period {start, end}, performance_index (1.0 = as expected, above is better), optionally package_id or creative_id, metric_type and feedback_source, and an idempotency_key. Sellers use it to optimise delivery.',
  input: TOOL_REQUEST_SCHEMAS.provide_performance_feedback! as unknown as z.ZodType<Input>,
  output: z.looseObject({ success: z.boolean().optional() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    // Stored as numeric(12, 4).
    if (!Number.isFinite(input.performance_index) || input.performance_index < 0 || input.performance_index >= 1e8) {
      throw new AdcpError('VALIDATION_ERROR', 'performance_index must be zero or more (and below 100,000,000).', { field: 'performance_index', suggestion: 'Send 1.0 for expected performance, 1.2 for 20% better, 0.8 for 20% worse.' });
    }
    const start = Date.parse(input.measurement_period.start);
    const end = Date.parse(input.measurement_period.end);
    if (Number.isNaN(start) || Number.isNaN(end) || start >= end) {
      throw new AdcpError('VALIDATION_ERROR', 'measurement_period must be two date-times with start before end.', {
        field: 'measurement_period',
        suggestion: 'For example {"start": "2026-06-01T00:00:00Z", "end": "2026-06-08T00:00:00Z"}.',
      });
    }
    // Nothing has been measured in a period that has not begun (five minutes' grace for clocks).
    if (start > ctx.now().getTime() + 5 * 60_000) {
      throw new AdcpError('VALIDATION_ERROR', 'measurement_period starts in the future: there is no performance to report for it yet.', {
        field: 'measurement_period.start',
        suggestion: 'Report on a period that has begun, e.g. the last seven days.',
      });
    }
    return idempotentMutation(ctx, 'provide_performance_feedback', input, async (tx) => {
      const r = await recordPerformanceFeedback(tx, {
        tenantId: ctx.tenant.id,
        principalId: ctx.principal.id,
        mediaBuyId: input.media_buy_id,
        packageId: input.package_id,
        creativeId: input.creative_id,
        metricType: input.metric_type ?? 'overall_performance',
        feedbackSource: input.feedback_source ?? 'buyer_attribution',
        performanceIndex: fromUnits(toUnits(input.performance_index)),
        period: { start: input.measurement_period.start, end: input.measurement_period.end },
      });
      if (r.outcome !== 'ok') {
        const [code, field, suggestion] = NOT_FOUND[r.outcome];
        throw new AdcpError(code, `No ${field.replace('_id', '')} "${String(input[field])}" was found.`, { field, suggestion });
      }
      return { success: true, ...(r.sandbox && { sandbox: true }) };
    });
  },
});
