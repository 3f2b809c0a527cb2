import { exactDecimal, isExactInteger } from './json-number-value';

describe('exactDecimal', () => {
  it.each([
    [['12.340', '0.1234E2', '1234e-2', '1234.0e-2', '0001234000e-5'], '1234e-2'],
    [['1e+21', '1000000000000000000000', '1.0e21'], '1e21'],
    [['0', '-0', '0.000', '0e-400', '0E999'], '0'],
    [['-1.5', '-15e-1'], '-15e-1'],
  ])('writes every spelling of one value alike: %j', (spellings, decimal) => {
    for (const spelling of spellings) expect(exactDecimal(spelling)).toBe(decimal);
  });

  it('tells integers from fractions, however they are written', () => {
    expect(['1.234567890123456789e18', '90071992547409930e-1', '100', '0'].map((source) => isExactInteger(exactDecimal(source)!))).toEqual([true, true, true, true]);
    expect(['0.5', '1e-1', '12345678901234567890.5'].map((source) => isExactInteger(exactDecimal(source)!))).toEqual([false, false, false]);
  });

  it('has no answer for text that is no JSON number', () => {
    for (const text of ['5.', '-.5', '+1', '1e', 'Infinity', '']) expect(exactDecimal(text)).toBeUndefined();
  });
});
