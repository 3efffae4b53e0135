VALUE = "nsapp's own bench"
