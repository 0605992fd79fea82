/**
 * Bounds that keep a hostile or careless formula from costing more than a config
 * check should: every recursive walk over an AST is bounded by these, so no input
 * can overflow the stack.
 */
export const MAX_FORMULA_LENGTH = 2000;
/** Parentheses, call arguments and unary minus each add a level. */
export const MAX_NESTING_DEPTH = 64;
export const MAX_NODES = 256;
/**
 * How far back previous() may reach, in total through nested previous() calls and
 * referenced KPIs: a daily year-over-year comparison needs 366, and the engine has to
 * load every one of those periods.
 */
export const MAX_LOOKBACK = 366;
