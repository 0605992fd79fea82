/**
 * Just enough of the Google Ads Query Language for reporting queries:
 *   SELECT f, … FROM resource [WHERE cond AND …] [ORDER BY f [ASC|DESC], …] [LIMIT n]
 * where cond is `field op value`, `field IN (…)`, `field BETWEEN 'a' AND 'b'` or `field DURING RANGE`.
 */

export interface GaqlCondition {
  field: string;
  op: '=' | '!=' | '>' | '>=' | '<' | '<=' | 'IN' | 'NOT IN' | 'BETWEEN' | 'DURING' | 'LIKE';
  values: string[];
}

export interface GaqlQuery {
  select: string[];
  from: string;
  where: GaqlCondition[];
  orderBy: Array<{ field: string; desc: boolean }>;
  limit?: number;
}

export class GaqlError extends Error {
  /** QueryError enum value, e.g. UNRECOGNIZED_FIELD. */
  readonly code: string;
  readonly trigger?: string;

  constructor(code: string, message: string, trigger?: string) {
    super(message);
    this.code = code;
    this.trigger = trigger;
  }
}

type Token = { kind: 'word' | 'string' | 'number' | 'punct'; text: string };

function tokenize(q: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(['"])((?:\\.|(?!\1).)*)\1|([A-Za-z_][A-Za-z0-9_.]*)|(-?\d+(?:\.\d+)?)|(!=|>=|<=|[=<>(),]))/gy;
  let pos = 0;
  while (pos < q.length) {
    if (/^\s*$/.test(q.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(q);
    if (!m) throw new GaqlError('UNEXPECTED_INPUT', `Error in query: unexpected input ${q.slice(pos).trim().slice(0, 20)}.`, q.slice(pos).trim().slice(0, 20));
    if (m[2] !== undefined) out.push({ kind: 'string', text: m[2].replace(/\\(.)/g, '$1') });
    else if (m[3] !== undefined) out.push({ kind: 'word', text: m[3] });
    else if (m[4] !== undefined) out.push({ kind: 'number', text: m[4] });
    else if (m[5] !== undefined) out.push({ kind: 'punct', text: m[5] });
    pos = re.lastIndex;
  }
  return out;
}

export function parseGaql(query: string): GaqlQuery {
  const tokens = tokenize(query);
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const isWord = (w: string): boolean => peek()?.kind === 'word' && peek()?.text.toUpperCase() === w;
  const expectWord = (w: string): void => {
    if (!isWord(w)) throw new GaqlError(i >= tokens.length ? 'UNEXPECTED_END_OF_QUERY' : 'UNEXPECTED_INPUT', `Error in query: expected ${w}${peek() ? ` but found ${peek()?.text}` : ''}.`, peek()?.text);
    i++;
  };
  const field = (): string => {
    const t = peek();
    if (t?.kind !== 'word') throw new GaqlError(t ? 'UNEXPECTED_INPUT' : 'UNEXPECTED_END_OF_QUERY', `Error in query: expected a field name${t ? ` but found ${t.text}` : ''}.`, t?.text);
    i++;
    return t.text;
  };
  const literal = (): string => {
    const t = peek();
    if (!t || t.kind === 'punct') throw new GaqlError(t ? 'UNEXPECTED_INPUT' : 'UNEXPECTED_END_OF_QUERY', 'Error in query: expected a value.', t?.text);
    i++;
    return t.text;
  };

  expectWord('SELECT');
  const select = [field()];
  while (peek()?.text === ',') {
    i++;
    select.push(field());
  }
  expectWord('FROM');
  const from = field();
  const where: GaqlCondition[] = [];
  if (isWord('WHERE')) {
    i++;
    do {
      if (isWord('AND')) i++;
      const f = field();
      const t = peek();
      if (!t) throw new GaqlError('UNEXPECTED_END_OF_QUERY', 'Error in query: unexpected end of query.');
      const upper = t.text.toUpperCase();
      if (t.kind === 'punct' && ['=', '!=', '>', '>=', '<', '<='].includes(t.text)) {
        i++;
        where.push({ field: f, op: t.text as GaqlCondition['op'], values: [literal()] });
      } else if (upper === 'BETWEEN') {
        i++;
        const a = literal();
        expectWord('AND');
        where.push({ field: f, op: 'BETWEEN', values: [a, literal()] });
      } else if (upper === 'DURING') {
        i++;
        where.push({ field: f, op: 'DURING', values: [literal()] });
      } else if (upper === 'LIKE') {
        i++;
        where.push({ field: f, op: 'LIKE', values: [literal()] });
      } else if (upper === 'IN' || upper === 'NOT') {
        i++;
        if (upper === 'NOT') expectWord('IN');
        if (peek()?.text !== '(') throw new GaqlError('UNEXPECTED_INPUT', 'Error in query: expected ( after IN.', peek()?.text);
        i++;
        const values = [literal()];
        while (peek()?.text === ',') {
          i++;
          values.push(literal());
        }
        if (peek()?.text !== ')') throw new GaqlError('UNEXPECTED_INPUT', 'Error in query: expected ) to close IN.', peek()?.text);
        i++;
        where.push({ field: f, op: upper === 'NOT' ? 'NOT IN' : 'IN', values });
      } else {
        throw new GaqlError('UNEXPECTED_INPUT', `Error in query: unexpected input ${t.text}.`, t.text);
      }
    } while (isWord('AND'));
  }
  const orderBy: GaqlQuery['orderBy'] = [];
  if (isWord('ORDER')) {
    i++;
    expectWord('BY');
    do {
      if (peek()?.text === ',') i++;
      const f = field();
      let desc = false;
      if (isWord('ASC')) i++;
      else if (isWord('DESC')) {
        i++;
        desc = true;
      }
      orderBy.push({ field: f, desc });
    } while (peek()?.text === ',');
  }
  let limit: number | undefined;
  if (isWord('LIMIT')) {
    i++;
    const t = peek();
    if (t?.kind !== 'number' || !/^\d+$/.test(t.text)) throw new GaqlError('LIMIT_VALUE_NOT_POSITIVE', 'Error in query: LIMIT must be a positive integer.', t?.text);
    i++;
    limit = Number(t.text);
  }
  if (i < tokens.length) throw new GaqlError('UNEXPECTED_INPUT', `Error in query: unexpected input ${tokens[i]?.text}.`, tokens[i]?.text);
  return { select, from, where, orderBy, limit };
}

/** snake_case GAQL paths become the camelCase keys of the REST JSON. */
export function camelPath(field: string): string {
  return field.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}
