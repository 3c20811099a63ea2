// Package onnxpb holds the Go types of the ONNX protobuf schema, generated
// by `make proto` from ONNX 1.12's onnx.proto as Debian's libonnx-dev ships
// it (/usr/include/onnx/onnx.proto, proto2, Apache-2.0, © ONNX Project
// Contributors). onnx.proto declares no go_package; the Makefile maps it
// here with protoc-gen-go's M option. Do not edit onnx.pb.go by hand.
//
// The trainer's graph surgery (trainer/graph) reads and writes models with
// these types; nothing else should need them.
package onnxpb
