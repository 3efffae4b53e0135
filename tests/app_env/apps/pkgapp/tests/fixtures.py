SOURCE = "pkgapp's own tests package"
