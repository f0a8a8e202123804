// Pool test handler with no default export: openQueuePool must refuse it.
export const handler = () => 'accept';
