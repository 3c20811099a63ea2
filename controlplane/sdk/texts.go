package sdk

import "strings"

// StartScript is p's start.sh or start.bat. It serves the package beside
// it with the onnxruntime library beside the plugin (ONNXRUNTIME_LIB from
// the user's shell is ignored), on Listen() unless AUTOCV_LISTEN says
// otherwise; extra arguments go to `autocv-agent serve`.
func StartScript(p Platform) string {
	if p.GOOS == "windows" {
		// cmd.exe reads .bat files in the console's code page: ASCII only.
		return strings.ReplaceAll(`@echo off
rem AutoCV offline SDK: serves the model on http://127.0.0.1:8987/upload
rem Another address: set AUTOCV_LISTEN=HOST:PORT before running this file.
setlocal
chcp 65001 >nul
cd /d "%~dp0"
set ONNXRUNTIME_LIB=
if "%AUTOCV_LISTEN%"=="" set AUTOCV_LISTEN=`+p.Listen()+`
"%~dp0autocv-agent.exe" serve --package package.tar.gz --trust-key signing.pub --listen %AUTOCV_LISTEN% %*
`, "\n", "\r\n")
	}
	return `#!/bin/sh
# AutoCV 离线 SDK：启动本机识别服务 / AutoCV offline SDK: serves the model.
# 监听地址默认 ` + p.Listen() + `，可用 AUTOCV_LISTEN=HOST:PORT 修改
# Listens on ` + p.Listen() + ` unless AUTOCV_LISTEN=HOST:PORT says otherwise.
cd "$(dirname "$0")" || exit 1
unset ONNXRUNTIME_LIB
exec ./autocv-agent serve --package package.tar.gz --trust-key signing.pub --listen "${AUTOCV_LISTEN:-` + p.Listen() + `}" "$@"
`
}

// Readme is the SDK's README.txt, zh-CN first, then English.
func Readme(p Platform) string {
	start, url := "./start.sh", "http://<本机IP>:8987/upload"
	startEN, urlEN := "./start.sh", "http://<this machine's IP>:8987/upload (or http://127.0.0.1:8987/upload on the machine itself)"
	if p.GOOS == "windows" {
		start, url = "双击 start.bat（或在命令行运行 start.bat）", "http://127.0.0.1:8987/upload"
		startEN, urlEN = "double-click start.bat (or run start.bat in a console)", "http://127.0.0.1:8987/upload"
	}
	gpu := "本 SDK 使用 CPU 推理，无需显卡。"
	gpuEN := "This SDK runs on the CPU; no GPU is needed."
	if p.GOOS == "windows" {
		gpu += "\n  Windows 需要 Microsoft Visual C++ 2015–2022 运行库（x64，vc_redist.x64.exe）：onnxruntime.dll 依赖 MSVCP140.dll 和 VCRUNTIME140.dll。"
		gpuEN += "\n  Windows needs the Microsoft Visual C++ 2015-2022 Redistributable (x64, vc_redist.x64.exe):\n  onnxruntime.dll needs MSVCP140.dll and VCRUNTIME140.dll."
	}
	if p.GPU {
		gpu = "本 SDK 为 NVIDIA GPU 版：需要 NVIDIA 驱动、CUDA 13 和 cuDNN 9（库需在系统库路径或 LD_LIBRARY_PATH 中）。\n" +
			"没有可用的 GPU 或 CUDA 时自动改用 CPU，并在日志中写明原因。"
		gpuEN = "This is the NVIDIA GPU build: it needs the NVIDIA driver, CUDA 13 and cuDNN 9 (their libraries on the\n" +
			"system library path or LD_LIBRARY_PATH). Without a usable GPU or CUDA it runs on the CPU and logs why."
	}
	return `AutoCV 离线 SDK（` + p.Name + `）
========================

启动
  1. 解压本压缩包（路径可含空格和中文）。
  2. ` + start + `
     启动时会校验模型包的签名（signing.pub）并用包内的标准样本（golden samples）自检，
     通过后打印 "package verified" 和 "ready"；校验失败则说明原因并退出。
  3. 浏览器打开 ` + url + `，上传图片即可识别。
  监听地址默认 ` + p.Listen() + `，可用环境变量 AUTOCV_LISTEN=HOST:PORT 修改。按 Ctrl+C 停止。

接口
  POST /v1/predict   请求体为图片（jpg、png、bmp）
    参数 ?top_k=5      最多返回的标签数
         ?threshold=0.5 置信度阈值（0–1，默认取模型包的阈值）
  POST /upload       multipart/form-data，字段名 file，可多张
  GET  /v1/model     当前模型；GET /healthz 健康检查
  返回 {"model":{"id","version"},"predictions":[{"label","confidence","threshold","above_threshold"}],"latency_ms"}
  错误 {"error","code"}，如 empty_body、not_an_image、unsupported_format、corrupt、too_large、bad_top_k
  示例：
    curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8987/v1/predict

CPU / GPU
  ` + gpu + `

文件
  ` + p.Agent() + `、` + p.Plugin() + `、` + strings.Join(p.Libs, "、") + `：运行时
  package.tar.gz：已签名的模型包；signing.pub：信任的公钥

------------------------------------------------------------

AutoCV offline SDK (` + p.Name + `)

Start
  1. Unzip this archive (the path may hold spaces and Chinese characters).
  2. ` + startEN + `
     At start it verifies the model package's signature (signing.pub) and checks the
     package's golden samples give the expected answers; it prints "package verified"
     and "ready", or says what is wrong and exits.
  3. Open ` + urlEN + ` in a browser and upload photos.
  It listens on ` + p.Listen() + ` unless AUTOCV_LISTEN=HOST:PORT says otherwise. Ctrl+C stops it.

API
  POST /v1/predict   the image (jpg, png, bmp) as the body
    query ?top_k=5       labels to return at most
          ?threshold=0.5 confidence threshold (0-1, default the package's)
  POST /upload       multipart/form-data, one or more parts named file
  GET  /v1/model     the model served; GET /healthz for probes
  answers {"model":{"id","version"},"predictions":[{"label","confidence","threshold","above_threshold"}],"latency_ms"}
  errors  {"error","code"}, e.g. empty_body, not_an_image, unsupported_format, corrupt, too_large, bad_top_k
  Example:
    curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8987/v1/predict

CPU / GPU
  ` + gpuEN + `

Files
  ` + p.Agent() + `, ` + p.Plugin() + `, ` + strings.Join(p.Libs, ", ") + `: the runtime
  package.tar.gz: the signed model package; signing.pub: the trusted public key
`
}
