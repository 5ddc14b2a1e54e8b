return { run = { batch_mx = 1 } }
