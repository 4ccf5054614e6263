module github.com/holdfast-db/holdfast

go 1.26.8

require golang.org/x/sys v0.49.0

require (
	github.com/tidwall/btree v1.8.2 // indirect
	pgregory.net/rapid v1.3.0 // indirect
)
