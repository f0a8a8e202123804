/**
 * Symbol.asyncDispose for `await using`. Node defines it from 20.4 on (as the registered
 * symbol 'nodejs.asyncDispose'); on older 20.x define it the same way, so a Queue disposes
 * with any runtime or transpiler that follows Node's convention. Imported for its effect.
 */
const S = Symbol as unknown as { asyncDispose?: symbol };
S.asyncDispose ??= Symbol.for('nodejs.asyncDispose');
