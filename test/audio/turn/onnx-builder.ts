/**
 * Writes small ONNX models for the tests, with protobufjs and a subset of the ONNX schema written
 * here from the ONNX IR spec (`onnx/onnx.proto`: ModelProto, GraphProto, NodeProto,
 * AttributeProto, ValueInfoProto, TypeProto, TensorShapeProto, TensorProto, OperatorSetIdProto;
 * field numbers as in the spec, fields the tests do not need left out). A model written with it
 * is read by onnxruntime like any exported model.
 */
import { createRequire } from "node:module";
import type * as ProtobufJs from "protobufjs";

const ONNX_SUBSET = `
syntax = "proto2";
package onnx;
message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; FLOATS = 6; INTS = 7; }
  optional string name = 1;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  repeated float floats = 7;
  repeated int64 ints = 8;
}
message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
}
message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
}
message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
}
message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}
message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

/** TensorProto.DataType values used here. */
export const FLOAT = 1;
export const INT64 = 7;

/** A graph input or output: a tensor of `elemType` with dims (a number, or a name for a free dim). */
export interface TensorInfo {
  name: string;
  elemType?: number;
  dims: Array<number | string>;
}

/** A node: `attributes` values are ints (`number[]` for INTS, `number` for INT). */
export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, number | number[]>;
}

/** A constant tensor. */
export interface InitializerSpec {
  name: string;
  dims: number[];
  floats?: number[];
  int64s?: number[];
}

export interface ModelSpec {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  nodes: NodeSpec[];
  initializers: InitializerSpec[];
  doc: string;
  /** ONNX operator set. @default 13 */
  opset?: number;
}

/** The model as the bytes of an `.onnx` file. */
export function encodeOnnxModel(spec: ModelSpec): Uint8Array {
  const protobuf = createRequire(import.meta.url)("protobufjs") as typeof ProtobufJs;
  const root = protobuf.parse(ONNX_SUBSET, { keepCase: true }).root;
  const Model = root.lookupType("onnx.ModelProto");
  const valueInfo = (t: TensorInfo) => ({
    name: t.name,
    type: {
      tensor_type: {
        elem_type: t.elemType ?? FLOAT,
        shape: { dim: t.dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) },
      },
    },
  });
  const message = {
    ir_version: 7,
    opset_import: [{ domain: "", version: spec.opset ?? 13 }],
    producer_name: "voicepipe test/audio/turn/onnx-builder.ts",
    doc_string: spec.doc,
    graph: {
      name: "test",
      node: spec.nodes.map((n, i) => ({
        name: `${n.op}_${i}`,
        op_type: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes ?? {}).map(([name, v]) =>
          Array.isArray(v) ? { name, type: 7, ints: v } : { name, type: 2, i: v },
        ),
      })),
      initializer: spec.initializers.map((t) => ({
        name: t.name,
        dims: t.dims,
        data_type: t.floats ? FLOAT : INT64,
        ...(t.floats ? { float_data: t.floats } : { int64_data: t.int64s }),
      })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
  };
  const invalid = Model.verify(message);
  if (invalid) throw new Error(`onnx-builder: ${invalid}`);
  return Model.encode(Model.fromObject(message)).finish();
}

/**
 * A stand-in for Smart Turn v3 with its exact interface (input `input_features` float32
 * `[batch, 80, 800]`, output `logits` float32 `[batch, 1]`, a sigmoid probability) and a rule
 * the tests can predict: the mean feature over the last 100 frames (the last second) `m` gives
 * `sigmoid(weight · (m − centre))`. With the default negative weight, a loud last second
 * (features near the window's maximum) reads as an incomplete turn, a quiet one (features at the
 * floor, max − 2) as complete.
 */
export function smartTurnStandIn(
  options: { inputName?: string; weight?: number; centre?: number; outputDims?: number[] } = {},
): ModelSpec {
  const input = options.inputName ?? "input_features";
  const weight = options.weight ?? -10;
  const centre = options.centre ?? 0.2;
  const outputDims = options.outputDims ?? [1, 1];
  const nodes: NodeSpec[] = [
    { op: "Slice", inputs: [input, "starts", "ends", "axes"], outputs: ["tail"] },
    { op: "ReduceMean", inputs: ["tail"], outputs: ["mean"], attributes: { axes: [1, 2], keepdims: 1 } },
    { op: "Flatten", inputs: ["mean"], outputs: ["flat"], attributes: { axis: 1 } },
    { op: "Mul", inputs: ["flat", "weight"], outputs: ["scaled"] },
    { op: "Add", inputs: ["scaled", "bias"], outputs: ["logit"] },
    { op: "Sigmoid", inputs: ["logit"], outputs: ["probability"] },
  ];
  const initializers: InitializerSpec[] = [
    { name: "starts", dims: [1], int64s: [700] },
    { name: "ends", dims: [1], int64s: [800] },
    { name: "axes", dims: [1], int64s: [2] },
    { name: "weight", dims: [1], floats: [weight] },
    { name: "bias", dims: [1], floats: [-weight * centre] },
  ];
  if (outputDims.join() !== "1,1") {
    // A wrong model for the error tests: the probability repeated to another shape.
    nodes.push({ op: "Expand", inputs: ["probability", "shape"], outputs: ["logits"] });
    initializers.push({ name: "shape", dims: [outputDims.length], int64s: outputDims });
  } else {
    nodes.push({ op: "Identity", inputs: ["probability"], outputs: ["logits"] });
  }
  return {
    doc: "A test stand-in for Smart Turn v3 (same input and output names and shapes); not a turn model.",
    inputs: [{ name: input, dims: ["batch_size", 80, 800] }],
    outputs: [{ name: "logits", dims: outputDims.join() === "1,1" ? ["batch_size", 1] : outputDims }],
    nodes,
    initializers,
  };
}
