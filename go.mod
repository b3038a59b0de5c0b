module github.com/clusterd/clusterd

go 1.26.8

require (
	github.com/cloudflare/tableflip v1.2.3
	github.com/oklog/run v1.2.0
	github.com/spf13/cobra v1.10.2
	github.com/valyala/fasthttp v1.78.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/molecule-man/go-brrr v1.3.1 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)
