package tasks

// AsynqLayoutVersion exposes asynqLayoutVersion to the external tests.
const AsynqLayoutVersion = asynqLayoutVersion
