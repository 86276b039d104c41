/**
 * The WebAssembly encoder: LEB128 against the format's published examples and round trips, and
 * small modules that the engine must accept (`WebAssembly.validate`) and run with results known
 * independently of the encoder (closed-form sums, hand-computed lane values).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ModuleBuilder,
  signedLeb128,
  unsignedLeb128,
  webAssembly,
  type WebAssemblyMemory,
} from "../../../compiler/codegen/wasm/encoder.ts";
import { propertyRuns } from "../../support/runs.ts";
import { nth, present } from "../../support/entries.ts";

/** Decoders written from the format's definition, independent of the encoder's loops. */
function decodeUnsigned(bytes: number[]): number {
  let value = 0;
  bytes.forEach((byte, i) => {
    value += (byte & 0x7f) * 2 ** (7 * i);
  });
  return value;
}
function decodeSigned(bytes: number[]): number {
  const unsigned = decodeUnsigned(bytes);
  const bits = 7 * bytes.length;
  return (nth(bytes, bytes.length - 1) & 0x40) !== 0 ? unsigned - 2 ** bits : unsigned;
}

function instantiate(bytes: Uint8Array, memory?: WebAssemblyMemory): Record<string, unknown> {
  assert.ok(webAssembly.validate(bytes), "the engine rejects the module");
  const imports: Record<string, Record<string, unknown>> = memory === undefined ? {} : { env: { memory } };
  return new webAssembly.Instance(new webAssembly.Module(bytes), imports).exports;
}

describe("LEB128", () => {
  test("the format's examples", () => {
    assert.deepEqual(unsignedLeb128(0), [0x00]);
    assert.deepEqual(unsignedLeb128(127), [0x7f]);
    assert.deepEqual(unsignedLeb128(128), [0x80, 0x01]);
    assert.deepEqual(unsignedLeb128(624485), [0xe5, 0x8e, 0x26]);
    assert.deepEqual(unsignedLeb128(0xffffffff), [0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert.deepEqual(signedLeb128(0), [0x00]);
    assert.deepEqual(signedLeb128(-1), [0x7f]);
    assert.deepEqual(signedLeb128(63), [0x3f]);
    assert.deepEqual(signedLeb128(64), [0xc0, 0x00]); // bit 6 set would read as negative
    assert.deepEqual(signedLeb128(-64), [0x40]);
    assert.deepEqual(signedLeb128(-65), [0xbf, 0x7f]);
    assert.deepEqual(signedLeb128(-123456), [0xc0, 0xbb, 0x78]);
    assert.deepEqual(signedLeb128(-0x80000000), [0x80, 0x80, 0x80, 0x80, 0x78]);
  });

  test("round trips, with continuation bits only where more bytes follow", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: -0x80000000, max: 0x7fffffff }),
        (u, s) => {
          const ubytes = unsignedLeb128(u);
          const sbytes = signedLeb128(s);
          assert.equal(decodeUnsigned(ubytes), u);
          assert.equal(decodeSigned(sbytes), s);
          for (const bytes of [ubytes, sbytes]) {
            bytes.forEach((byte, i) => assert.equal((byte & 0x80) !== 0, i < bytes.length - 1));
            assert.ok(bytes.length <= 5);
          }
        },
      ),
      { numRuns: propertyRuns(500) },
    );
  });

  test("rejects values it cannot represent", () => {
    assert.throws(() => unsignedLeb128(-1), RangeError);
    assert.throws(() => unsignedLeb128(2 ** 32), RangeError);
    assert.throws(() => unsignedLeb128(1.5), RangeError);
    assert.throws(() => signedLeb128(-(2 ** 31) - 1), RangeError);
  });
});

describe("modules", () => {
  test("scalar arithmetic, a loop with br_if, and if/else", () => {
    const module = new ModuleBuilder();
    // sum(n) = 1 + 2 + … + n by a counting loop.
    const sum = module.function(["i32"], ["i32"], "sum").body;
    const [n] = sum.params;
    const total = sum.local("i32");
    const i = sum.local("i32");
    sum.block((exit) => {
      sum.get(present(n)).i32(1).op("i32.lt_s").brIf(exit);
      sum.loop((again) => {
        sum.get(i).i32(1).op("i32.add").tee(i).get(total).op("i32.add").set(total);
        sum.get(i).get(present(n)).op("i32.lt_s").brIf(again);
      });
    });
    sum.get(total);
    // sign(x) for f64 through nested if/else.
    const sign = module.function(["f64"], ["f64"], "sign").body;
    const [x] = sign.params;
    const out = sign.local("f64");
    sign.get(present(x)).f64(0).op("f64.lt");
    sign.if(
      () => sign.f64(-1).set(out),
      () => {
        sign.get(present(x)).f64(0).op("f64.eq");
        sign.if(
          () => sign.f64(0).set(out),
          () => sign.f64(1).set(out),
        );
      },
    );
    sign.get(out);
    const exports = instantiate(module.encode());
    const sumFn = exports.sum as (n: number) => number;
    const signFn = exports.sign as (x: number) => number;
    for (const count of [0, 1, 2, 10, 1000]) assert.equal(sumFn(count), (count * (count + 1)) / 2);
    assert.equal(sumFn(-5), 0);
    assert.deepEqual([signFn(-2.5), signFn(0), signFn(7)], [-1, 0, 1]);
  });

  test("constants that need several LEB128 bytes or are not exact in f32", () => {
    const module = new ModuleBuilder();
    const big = module.function([], ["i32"], "big").body;
    big.i32(-123456789);
    const third = module.function([], ["f64"], "third").body;
    third.f32(1 / 3).op("f64.promote_f32");
    const exports = instantiate(module.encode());
    assert.equal((exports.big as () => number)(), -123456789);
    assert.equal((exports.third as () => number)(), Math.fround(1 / 3));
  });

  test("a shared imported memory: loads, stores with offsets, and SIMD lanes", () => {
    const module = new ModuleBuilder().importMemory("env", "memory", {
      minimumPages: 1,
      maximumPages: 65536,
      shared: true,
    });
    // axpy2(p, alpha): mem64[p .. p+2] = alpha · mem64[p .. p+2] + splat(mem64[p+2]),
    // then returns lane 1 plus mem32 at byte 64 (written by f32x4 ops below).
    const f = module.function(["i32", "f64"], ["f64"], "kernel").body;
    const [p, alpha] = f.params;
    const v = f.local("v128");
    f.get(present(alpha)).op("f64x2.splat").get(present(p)).memory("v128.load").op("f64x2.mul");
    f.get(present(p)).memory("v128.load64_splat", 16).op("f64x2.add").set(v);
    f.get(present(p)).get(v).memory("v128.store");
    // f32x4: mem32[16 .. 20] = (mem32[16 .. 20] + splat(mem32[20])) · 2, at byte offset 64.
    f.i32(0).i32(0).memory("v128.load", 64).i32(0).memory("v128.load32_splat", 80).op("f32x4.add");
    f.f32(2).op("f32x4.splat").op("f32x4.mul").memory("v128.store", 64);
    f.get(v).lane("f64x2.extract_lane", 1);
    f.i32(64).memory("v128.load").lane("f32x4.extract_lane", 3).op("f64.promote_f32").op("f64.add");
    // A stray f64.store/f32.store through a computed address, to cover scalar stores.
    f.get(present(p)).get(present(alpha)).memory("f64.store", 24);
    f.i32(84).f32(-0.5).memory("f32.store");
    const memory = new webAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    assert.ok(memory.buffer instanceof SharedArrayBuffer);
    const f64 = new Float64Array(memory.buffer);
    const f32 = new Float32Array(memory.buffer);
    f64.set([1.5, -2, 10], 0);
    f32.set([1, 2, 3, 4, 0.25], 16);
    const result = (instantiate(module.encode(), memory).kernel as (p: number, alpha: number) => number)(0, 3);
    assert.deepEqual([...f64.subarray(0, 4)], [3 * 1.5 + 10, 3 * -2 + 10, 10, 3]);
    assert.deepEqual([...f32.subarray(16, 22)], [2.5, 4.5, 6.5, 8.5, 0.25, -0.5]);
    assert.equal(result, 3 * -2 + 10 + 8.5);
  });

  test("equal builder calls give equal bytes; function types are shared", () => {
    const build = () => {
      const module = new ModuleBuilder();
      for (const name of ["a", "b"]) module.function(["i32", "i32"], ["i32"], name).body.op("unreachable");
      return module.encode();
    };
    const first = build();
    assert.deepEqual(first, build());
    // The type section (id 1) holds one type: size 7 = count 1 + [0x60, 2, i32, i32, 1, i32].
    assert.deepEqual([...first.subarray(8, 11)], [0x01, 0x07, 0x01]);
  });

  test("branches to labels that are not enclosing are refused", () => {
    const f = new ModuleBuilder().function([], []).body;
    let escaped: { depth: number } | undefined;
    f.block((label) => {
      escaped = label;
    });
    assert.throws(() => f.br(present(escaped)), /not enclosing/);
  });
});
