// MSBuild inline task (compiled by RoslynCodeTaskFactory): makes TorchSharp's native calls keep
// their managed arguments alive, in a patched copy of TorchSharp.dll for our build outputs.
//
// Why: TorchSharp's wrappers read an object's native handle and then call into libtorch, e.g.
// `THSTensor_mul_scalar(Handle, target.Handle)`, without GC.KeepAlive. Once the handle is read the
// JIT treats the object as dead, so a garbage collection during the native call may run its
// finalizer, which frees the native object the kernel is still reading. Implicit Scalars
// (`t * 2.0`, `t.pow(2)`, and the alpha = 1 of every `a + b`) are never disposed, so only the
// finalizer frees them: under allocation pressure this fails with "Unknown scalar type" or
// "toFloat at Scalar.h". Upstream: dotnet/TorchSharp #1434, #1496 (open).
//
// Fix: in every method that calls a TorchSharp P/Invoke, `GC.KeepAlive` each reference-typed
// argument, `this` and reference-typed local just before each return. Implicit Scalars flow into
// such methods as arguments, so they live until the native call has returned. The NuGet cache is
// never modified; the patched copy is marked with an AssemblyMetadata("IwSft.KeepAlive") attribute
// so the patch is applied once and tests can check that it is in place.
using System;
using System.IO;
using System.Linq;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Mono.Cecil;
using Mono.Cecil.Cil;

public class IwSftKeepTorchSharpArgumentsAlive : Task
{
    public const string Marker = "IwSft.KeepAlive";
    public const string MarkerVersion = "1";

    /// <summary>The TorchSharp.dll from the NuGet cache (read only).</summary>
    [Required] public string Source { get; set; }
    /// <summary>Where the patched copy is written (atomically; reused while it is newer than Source).</summary>
    [Required] public string Destination { get; set; }

    public override bool Execute()
    {
        try
        {
            if (File.Exists(Destination) && File.GetLastWriteTimeUtc(Destination) >= File.GetLastWriteTimeUtc(Source)
                && IsPatched(Destination))
                return true;
            Directory.CreateDirectory(Path.GetDirectoryName(Destination));
            string tmp = Destination + ".tmp-" + Guid.NewGuid().ToString("N");
            int methods = Patch(Source, tmp);
            if (File.Exists(Destination)) File.Replace(tmp, Destination, null); else File.Move(tmp, Destination);
            Log.LogMessage(MessageImportance.Normal, "TorchSharp: native calls keep their arguments alive in " + methods + " methods (" + Destination + ")");
            return true;
        }
        catch (Exception e)
        {
            Log.LogError("Could not patch " + Source + " (keep-alive of native call arguments): " + e.Message);
            return false;
        }
    }

    static bool IsPatched(string path)
    {
        using var module = ModuleDefinition.ReadModule(path);
        return module.Assembly.CustomAttributes.Any(a => a.AttributeType.Name == "AssemblyMetadataAttribute"
            && a.ConstructorArguments.Count == 2 && (string)a.ConstructorArguments[0].Value == Marker);
    }

    static int Patch(string source, string destination)
    {
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(Path.GetDirectoryName(source));
        using var module = ModuleDefinition.ReadModule(source, new ReaderParameters { AssemblyResolver = resolver, ReadSymbols = false });
        if (module.Assembly.CustomAttributes.Any(a => a.AttributeType.Name == "AssemblyMetadataAttribute"
            && (string)a.ConstructorArguments[0].Value == Marker))
            throw new InvalidOperationException("source is already patched");

        // Reference System.Runtime's GC and AssemblyMetadataAttribute the way TorchSharp itself references the BCL.
        var runtime = module.AssemblyReferences.FirstOrDefault(r => r.Name == "System.Runtime")
                      ?? throw new InvalidOperationException("TorchSharp does not reference System.Runtime");
        var objectType = module.TypeSystem.Object;
        var gc = new TypeReference("System", "GC", module, runtime);
        var keepAlive = new MethodReference("KeepAlive", module.TypeSystem.Void, gc) { HasThis = false };
        keepAlive.Parameters.Add(new ParameterDefinition(objectType));

        int patched = 0;
        foreach (var type in module.GetTypes())
        foreach (var method in type.Methods)
        {
            if (!method.HasBody || !CallsNative(method)) continue;
            var keep = method.Body.Variables.Where(v => !v.VariableType.IsValueType && !v.VariableType.IsGenericParameter && !v.VariableType.IsPointer && !v.VariableType.IsByReference && !v.VariableType.IsPinned)
                .Select(v => (Func<Instruction>)(() => Instruction.Create(OpCodes.Ldloc, v))).ToList();
            keep.AddRange(method.Parameters.Where(p => !p.ParameterType.IsValueType && !p.ParameterType.IsByReference && !p.ParameterType.IsPointer && !p.ParameterType.IsGenericParameter)
                .Select(p => (Func<Instruction>)(() => Instruction.Create(OpCodes.Ldarg, p))));
            if (method.HasThis && !type.IsValueType) keep.Add(() => Instruction.Create(OpCodes.Ldarg_0));
            if (keep.Count == 0) continue;

            // Long branch forms, so that no short branch falls out of range once code is inserted.
            LongBranches(method.Body);
            var il = method.Body.GetILProcessor();
            foreach (var ret in method.Body.Instructions.Where(i => i.OpCode == OpCodes.Ret).ToList())
            {
                // Turn the ret itself into the first load, so branches that targeted it still land here.
                var first = keep[0]();
                ret.OpCode = first.OpCode;
                ret.Operand = first.Operand;
                var cursor = ret;
                cursor = InsertAfter(il, cursor, Instruction.Create(OpCodes.Call, keepAlive));
                foreach (var load in keep.Skip(1))
                {
                    cursor = InsertAfter(il, cursor, load());
                    cursor = InsertAfter(il, cursor, Instruction.Create(OpCodes.Call, keepAlive));
                }
                InsertAfter(il, cursor, Instruction.Create(OpCodes.Ret));
            }
            patched++;
        }

        var attributeType = new TypeReference("System.Reflection", "AssemblyMetadataAttribute", module, runtime);
        var ctor = new MethodReference(".ctor", module.TypeSystem.Void, attributeType) { HasThis = true };
        ctor.Parameters.Add(new ParameterDefinition(module.TypeSystem.String));
        ctor.Parameters.Add(new ParameterDefinition(module.TypeSystem.String));
        var marker = new CustomAttribute(ctor);
        marker.ConstructorArguments.Add(new CustomAttributeArgument(module.TypeSystem.String, Marker));
        marker.ConstructorArguments.Add(new CustomAttributeArgument(module.TypeSystem.String, MarkerVersion));
        module.Assembly.CustomAttributes.Add(marker);
        // The strong-name signature no longer matches; .NET does not check it, and leaving the flag set would mislead.
        module.Attributes &= ~ModuleAttributes.StrongNameSigned;
        module.Write(destination);
        return patched;
    }

    static Instruction InsertAfter(ILProcessor il, Instruction after, Instruction instruction)
    {
        il.InsertAfter(after, instruction);
        return instruction;
    }

    static void LongBranches(MethodBody body)
    {
        foreach (var i in body.Instructions)
        {
            if (i.OpCode.OperandType != OperandType.ShortInlineBrTarget) continue;
            i.OpCode = i.OpCode.Code switch
            {
                Code.Br_S => OpCodes.Br, Code.Brfalse_S => OpCodes.Brfalse, Code.Brtrue_S => OpCodes.Brtrue,
                Code.Beq_S => OpCodes.Beq, Code.Bge_S => OpCodes.Bge, Code.Bgt_S => OpCodes.Bgt,
                Code.Ble_S => OpCodes.Ble, Code.Blt_S => OpCodes.Blt, Code.Bne_Un_S => OpCodes.Bne_Un,
                Code.Bge_Un_S => OpCodes.Bge_Un, Code.Bgt_Un_S => OpCodes.Bgt_Un, Code.Ble_Un_S => OpCodes.Ble_Un,
                Code.Blt_Un_S => OpCodes.Blt_Un, Code.Leave_S => OpCodes.Leave,
                _ => throw new InvalidOperationException("unexpected short branch " + i.OpCode),
            };
        }
    }

    static bool CallsNative(MethodDefinition method) =>
        method.Body.Instructions.Any(i => (i.OpCode == OpCodes.Call || i.OpCode == OpCodes.Callvirt)
            && i.Operand is MethodReference r && r.DeclaringType.FullName == "TorchSharp.PInvoke.NativeMethods");
}
