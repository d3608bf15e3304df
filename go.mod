module github.com/rabibridge/rabibridge

go 1.26

require (
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/matryer/is v1.4.1 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)
