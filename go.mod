module github.com/bascule/bascule

go 1.26
