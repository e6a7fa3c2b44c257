"""FxService: conversion to the base currency (issue 4; UNIMPLEMENTED until then)."""
