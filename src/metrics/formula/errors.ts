/** A formula that cannot be read. Always this type, whatever the input, so callers can catch it narrowly. */
export class FormulaError extends Error {
  override readonly name = 'FormulaError';
  /** 1-based column in the formula text where the problem was found. */
  readonly position: number;

  constructor(message: string, position: number) {
    super(message);
    this.position = position;
  }
}
