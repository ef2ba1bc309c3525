package transport

import "os"

func osPID() int { return os.Getpid() }
