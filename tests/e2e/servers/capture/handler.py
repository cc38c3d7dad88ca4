"""The program inetd.py exec()s for a connection: requests are read on
descriptor 0 with read(2) and responses written on descriptor 1 with
write(2); no socket object, no other descriptor of the connection."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import httpraw  # noqa: E402


def send(data):
    while data:
        data = data[os.write(1, data):]


def main():
    try:
        httpraw.serve(lambda: os.read(0, 65536), send)
    except (ConnectionError, ValueError):
        pass


if __name__ == "__main__":
    main()
