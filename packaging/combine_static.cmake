# Combines archives into one static library with ar's MRI script (cmake -P):
#   -DAR=<ar> -DOUT=<libllmux.a> -DINPUTS=<a.a;b.a;...>
set(script "create ${OUT}\n")
foreach(lib ${INPUTS})
  string(APPEND script "addlib ${lib}\n")
endforeach()
string(APPEND script "save\nend\n")
file(WRITE "${OUT}.mri" "${script}")
file(REMOVE "${OUT}")
execute_process(COMMAND "${AR}" -M INPUT_FILE "${OUT}.mri" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "combining ${OUT} failed")
endif()
