module github.com/bascule/bascule

go 1.26

require github.com/kljensen/snowball v0.10.0
