package jobs

import (
	"fmt"
	"regexp"
)

// Problem is why a worker cannot train: a code from the table below and
// the worker's own detail (English, e.g. the folder it looked in). The
// control plane shows users the code's text, not the detail alone.
type Problem struct {
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// Problem codes.
const (
	ProblemNoBackbones  = "no_backbones"  // the backbone files are not there
	ProblemBadBackbones = "bad_backbones" // they are there but damaged or different
	ProblemNoRuntime    = "no_runtime"    // onnxruntime's library does not load
	ProblemUnavailable  = "unavailable"   // anything else that stops training
)

// ProblemText is what a user is told for a problem code: zh-CN first,
// then English; each says what to do.
type ProblemText struct{ ZH, EN string }

var problemTexts = map[string]ProblemText{
	ProblemNoBackbones: {
		ZH: "训练节点找不到预训练骨干网络（backbones），无法训练。请在训练节点上运行 `make deps`（或 `autocv-trainer fetch-backbones`）下载；离线时设置 AUTOCV_BACKBONES 指向含这些文件的文件夹。训练节点每 30 秒重新检查，无需重启。",
		EN: "The trainer cannot find its pretrained backbones, so nothing trains. Run `make deps` (or `autocv-trainer fetch-backbones`) on the trainer's machine; offline, point AUTOCV_BACKBONES at a folder holding them. The trainer checks again every 30 s; no restart needed.",
	},
	ProblemBadBackbones: {
		ZH: "训练节点的骨干网络文件已损坏或不是固定的版本（sha256 不符），无法训练。请删除这些文件后运行 `make deps`（或 `autocv-trainer fetch-backbones`）重新下载。",
		EN: "The trainer's backbone files are damaged or not the pinned ones (sha256 mismatch), so nothing trains. Delete them and run `make deps` (or `autocv-trainer fetch-backbones`) again.",
	},
	ProblemNoRuntime: {
		ZH: "训练节点无法加载 onnxruntime 库，无法训练。请运行 `make deps`，或设置 ONNXRUNTIME_LIB 指向 libonnxruntime.so.1，然后重启训练节点。",
		EN: "The trainer cannot load the onnxruntime library, so nothing trains. Run `make deps`, or point ONNXRUNTIME_LIB at libonnxruntime.so.1, then restart the trainer.",
	},
	ProblemUnavailable: {
		ZH: "训练节点暂时无法训练，详见其日志。",
		EN: "The trainer cannot train at the moment; see its log.",
	},
}

// TextFor returns the user's text for a problem code; unknown codes get
// ProblemUnavailable's.
func TextFor(code string) ProblemText {
	if t, ok := problemTexts[code]; ok {
		return t
	}
	return problemTexts[ProblemUnavailable]
}

var problemCodeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// MaxProblems and MaxProblemDetail bound what a lease request carries.
const (
	MaxProblems      = 8
	MaxProblemDetail = 1024
)

// ValidateProblems checks the problems of a lease request.
func ValidateProblems(ps []Problem) error {
	if len(ps) > MaxProblems {
		return fmt.Errorf("%w: %d problems, at most %d", ErrInvalid, len(ps), MaxProblems)
	}
	for _, p := range ps {
		if !problemCodeRE.MatchString(p.Code) {
			return fmt.Errorf("%w: problem code %q: 1–64 of a-z, 0-9, _", ErrInvalid, p.Code)
		}
		if len(p.Detail) > MaxProblemDetail {
			return fmt.Errorf("%w: problem %s: detail over %d bytes", ErrInvalid, p.Code, MaxProblemDetail)
		}
	}
	return nil
}
