"""The VFS: mounts, dentries, inodes, open files and the file kinds (qkernel/fs/*.py)."""
