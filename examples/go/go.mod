module example.com/herald-example

go 1.19
