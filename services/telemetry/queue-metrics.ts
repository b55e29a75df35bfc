import type { Queue } from 'bullmq';
import { instruments } from './instruments.ts';

/**
 * Queue depth by state and the age of the oldest waiting message, read from Redis when metrics are
 * collected (not on a timer), so an idle scrape costs two small Redis calls.
 */
export function observeQueue(queue: Queue): () => void {
  const { meter } = instruments();
  const depth = meter.createObservableGauge('omni_queue_depth', {
    description: 'Attempts in the queue, by state',
  });
  const oldestAge = meter.createObservableGauge('omni_queue_oldest_waiting_age', {
    description: 'Age of the oldest attempt waiting to run',
    unit: 's',
  });
  const callback = async (result: Parameters<Parameters<typeof meter.addBatchObservableCallback>[0]>[0]) => {
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed');
    for (const [state, count] of Object.entries(counts)) result.observe(depth, count, { state });
    const [oldest] = await queue.getJobs(['wait', 'prioritized'], 0, 0, true);
    result.observe(oldestAge, oldest ? Math.max(0, (Date.now() - oldest.timestamp) / 1000) : 0);
  };
  meter.addBatchObservableCallback(callback, [depth, oldestAge]);
  return () => meter.removeBatchObservableCallback(callback, [depth, oldestAge]);
}
