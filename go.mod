module github.com/activeloopai/activeloop-credential-helper

go 1.26.8
