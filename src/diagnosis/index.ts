/// <reference types="node" preserve="true" />
/**
 * `netfilter-queue/diagnosis`: facts read from the kernel's own tables. Why a queue receives
 * nothing (no rule, a rule in another namespace, a rule without bypass, nobody bound), who
 * holds a queue, what the kernel can do (kernelFeatures), and its per-queue counters in /proc.
 */
export { diagnoseQueues, formatDiagnosis } from './diagnose.js';
export type { DiagnoseOptions, QueueDiagnosis, QueueFinding, QueueReport } from './diagnose.js';
export { ruleQueues, type QueueingRule } from './rules.js';
export { findQueueHolder, type QueueHolder } from './holder.js';
export type { NetworkNamespace } from './namespaces.js';
export { readKernelQueueStats, type KernelQueueStats } from '../queue/proc.js';
export { kernelFeatures, type KernelFeatures, type KernelFeaturesOptions, type QueueFlagName } from './kernel-features.js';
