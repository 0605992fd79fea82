import { describe, expect, it } from 'vitest';
import { formatChange, formatDuration, formatTime, formatValue, oneLine } from '../../src/notify/format.ts';
import { clearSecrets, cutText, redactAndCut, registerSecret } from '../../src/core/secrets.ts';

describe('formatValue', () => {
  it('shows percent from a fraction with one decimal', () => {
    expect(formatValue(0.012, 'percent')).toBe('1.2%');
    expect(formatValue(0.12345, 'percent')).toBe('12.3%');
  });

  it('groups counts with thousands separators', () => {
    expect(formatValue(1234567, 'count')).toBe('1,234,567');
  });

  it('shows money with the currency code and the currency’s own decimals', () => {
    expect(formatValue(1234.5, 'currency', 'EUR')).toBe('EUR 1,234.50');
    expect(formatValue(1234.5, 'currency', 'JPY')).toBe('JPY 1,235');
    expect(formatValue(10, 'currency')).toBe('10.00');
  });

  it('shows ratios with up to two decimals, and n/a for missing values', () => {
    expect(formatValue(3.456, 'ratio')).toBe('3.46');
    expect(formatValue(null, 'count')).toBe('n/a');
    expect(formatValue(Number.NaN, 'percent')).toBe('n/a');
  });
});

describe('formatChange', () => {
  it('signs the change, which is already in percent', () => {
    expect(formatChange(12.345)).toBe('+12.3%');
    expect(formatChange(-3)).toBe('−3.0%');
    expect(formatChange(null)).toBe('n/a');
  });
});

describe('formatTime', () => {
  it('shows the time in the given zone, with the zone named', () => {
    expect(formatTime('2024-05-06T12:30:00Z', 'Europe/Berlin')).toBe('2024-05-06 14:30 GMT+2 (Europe/Berlin)');
    expect(formatTime('2024-01-06T12:30:00Z', 'America/New_York')).toBe('2024-01-06 07:30 EST (America/New_York)');
  });

  it('falls back to UTC for an unknown zone, and says so', () => {
    expect(formatTime('2024-05-06T12:30:00Z', 'Mars/Olympus')).toBe('2024-05-06 12:30 UTC (UTC)');
  });

  it('formats durations', () => {
    expect(formatDuration('2024-05-06T12:30:00Z', '2024-05-06T14:35:00Z')).toBe('2h 5m');
    expect(formatDuration('2024-05-06T12:30:00Z', '2024-05-08T12:30:00Z')).toBe('2d');
  });
});

describe('cutting notification texts', () => {
  it('cuts with an ellipsis inside the limit, never splitting a surrogate pair', () => {
    expect(cutText('abcdef', 4)).toBe('abc…');
    expect(cutText('abc', 3)).toBe('abc');
    const cut = cutText('ab😀cd', 4);
    expect(cut).toBe('ab…');
    expect(cut.length).toBeLessThanOrEqual(4);
  });

  it('scrubs a secret before cutting, so a cut through it shows none of it', () => {
    registerSecret('bottok-1234567890');
    try {
      expect(redactAndCut('token bottok-1234567890 refused', 12)).toBe('token [reda…');
      expect(redactAndCut('token bottok-1234567890 refused', 12)).not.toMatch(/bottok/);
    } finally {
      clearSecrets();
    }
  });

  it('makes one line of CR, LF, other control characters and Unicode line breaks', () => {
    expect(oneLine(' CTR low\r\nBcc: victim@example.com\u2028x\u0085y\u0000z ')).toBe('CTR low Bcc: victim@example.com x y z');
  });
});
