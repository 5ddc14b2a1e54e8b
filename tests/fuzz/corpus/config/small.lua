return { rules = "examples/rules", kafka = { ["bootstrap.servers"] = "127.0.0.1:9092" }, run = { batch_max = 100 } }
